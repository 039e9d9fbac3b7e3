/**
 * Under CI nothing may be skipped silently: this reporter lists every skipped or todo test
 * after the run and makes the run fail if there is any. (vitest.config.ts adds it when CI is set.)
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class NoSkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skipped: string[] = [];
    for (const m of testModules)
      for (const t of m.children.allTests())
        if (t.result().state === 'skipped') skipped.push(`${m.moduleId.replace(process.cwd() + '/', '')} > ${t.fullName}`);
    if (skipped.length === 0) return;
    process.stderr.write(`\nCI=true: ${skipped.length} test(s) skipped; under CI every test must run:\n`);
    for (const s of skipped) process.stderr.write(`  - ${s}\n`);
    process.exitCode = 1;
  }
}
