/**
 * Under CI nothing may be skipped silently: this vitest reporter lists every skipped or todo
 * test after the run and makes the run fail if there is any. vitest.config.ts adds it when
 * CI is set; a test that cannot run there must fail and say what is missing (test/support/peers.ts).
 */
import type { Reporter, TestModule } from 'vitest/node';

/** Fails the run (exit code 1) when any test was skipped or left as todo, and names each one. */
export default class NoSkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skipped: string[] = [];
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const r = t.result();
        if (r.state !== 'skipped') continue;
        const why = t.options.mode === 'todo' ? 'todo' : r.note ? `skipped: ${r.note}` : 'skipped';
        skipped.push(`${m.relativeModuleId} > ${t.fullName} (${why})`);
      }
    }
    if (skipped.length === 0) return;
    process.stderr.write(
      `\nCI: ${skipped.length} test(s) skipped or todo; under CI every test must run ` +
        `(install the peers in test/debian-packages.txt, or remove the skip):\n`,
    );
    for (const s of skipped) process.stderr.write(`  - ${s}\n`);
    process.exitCode = 1;
  }
}
