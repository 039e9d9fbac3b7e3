/**
 * Bundles the `ockle` binary (dist/src/cli/main.js and what it imports) into dist/bundle/, the
 * entry the systemd unit and `npm start` run. Node 20 loads ~130 ES modules and fastify's ~130
 * CommonJS files one by one, resolving and reading each: on a Pi that is most of the daemon's
 * start (BENCHMARKS.md, issue 15). One module graph of a few chunks loads in a fraction of it.
 *
 * What stays as it was:
 * - dynamic imports stay chunks of their own, loaded when needed (the CLI's commands, the
 *   drivers' implementations, the PDUDaemon face, the OpenAPI document);
 * - packages with native or WebAssembly parts, worker-thread transports or heavy protocol stacks
 *   are left to node_modules (pino and its pretty transport, net-snmp, serialport, modbus-serial,
 *   ssh2, mqtt, SQLite);
 * - every `import.meta.url` of a bundled module becomes the URL of its file in dist/, so paths
 *   found from it (the dashboard's files, the plugin workers, package.json) are the same as
 *   unbundled; worker threads still load their modules from dist/.
 *
 * Two bundles: the binary (ES modules: main.js, the CLI's commands), and the daemon itself in
 * dist/bundle/daemon/ as CommonJS, which `ockle daemon` loads through V8's code cache
 * (src/code-cache.ts, src/cli/daemon-module.ts): a start then reads the compiled daemon
 * instead of compiling ~1 MB of it again. The same module may so be in both (signals.ts keeps
 * its state on the process for that reason).
 *
 * Run by `npm run build` after tsc: `node dist/tools/bundle-daemon.js`.
 */
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(DIST, 'src', 'cli', 'main.js');
export const BUNDLE_DIR = join(DIST, 'bundle');
const DAEMON_ENTRY = join(DIST, 'src', 'run-daemon.js');
const DAEMON_DIR = join(BUNDLE_DIR, 'daemon');

/**
 * Left to node_modules: see the header. Also fastify's schema compilers (Ajv, fast-json-stringify
 * and theirs): the API compiles a route's schema on its first request (src/api/schemas.ts), so
 * they load after the start; bundled, their ~0.7 MB would be parsed at every start for nothing.
 */
const EXTERNAL =
  /^(node:|pino($|\/)|pino-pretty|thread-stream|net-snmp|serialport|@serialport\/|modbus-serial|ssh2|mqtt|node-sqlite3-wasm|ajv($|\/)|ajv-formats|@fastify\/ajv-compiler|fast-json-stringify|@fastify\/fast-json-stringify-compiler|@fastify\/merge-json-schemas|fast-uri|json-schema-traverse|json-schema-ref-resolver)/;

/**
 * Every `import.meta.url` of a bundled module becomes the URL of its file in dist/, relative to
 * where its bundle is (`url` makes the bundle's own URL in its format).
 */
function keepMetaUrl(outDir: string, url: string, keep?: string) {
  return {
    name: 'ockle-import-meta-url',
    transform(code: string, id: string) {
      if (id === keep || !id.startsWith(DIST + sep) || !code.includes('import.meta.url')) return null;
      const rel = relative(outDir, id).split(sep).join('/');
      return { code: code.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, ${url}).href`), map: null };
    },
  };
}

export async function bundleDaemon(): Promise<void> {
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  // The binary: the CLI, and `daemon` loading the bundle below (src/cli/daemon-module.ts).
  const cli = await rolldown({
    input: { main: ENTRY },
    platform: 'node',
    external: (id) => EXTERNAL.test(id),
    logLevel: 'warn',
    transform: { define: { 'globalThis.__OCKLE_BUNDLED__': 'true' } },
    // The entry keeps its own URL: main.js runs only when it is the process's script.
    plugins: [keepMetaUrl(BUNDLE_DIR, 'import.meta.url', ENTRY)],
  });
  await cli.write({ dir: BUNDLE_DIR, format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', sourcemap: false });
  await cli.close();
  // The daemon: CommonJS, so that it loads through V8's code cache (src/code-cache.ts). Its
  // lazily loaded parts (drivers, faces) are chunks of their own beside it, as above.
  const daemon = await rolldown({
    input: { daemon: DAEMON_ENTRY },
    platform: 'node',
    external: (id) => EXTERNAL.test(id),
    logLevel: 'warn',
    plugins: [keepMetaUrl(DAEMON_DIR, "require('node:url').pathToFileURL(__filename)")],
  });
  const { output } = await daemon.write({ dir: DAEMON_DIR, format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: '[name]-[hash].cjs', sourcemap: false });
  await daemon.close();
  // Code read from V8's cache loses vm.Script's importModuleDynamically (Node 20): an import()
  // of a package in daemon.cjs itself would fail once the cache is used. Its own chunks are
  // loaded with require(), and import() in them (net-snmp, serialport…) works as in any module.
  for (const chunk of output)
    if (chunk.type === 'chunk' && chunk.isEntry && chunk.dynamicImports.some((d) => !d.endsWith('.cjs')))
      throw new Error(`${chunk.fileName} imports ${chunk.dynamicImports.filter((d) => !d.endsWith('.cjs')).join(', ')} with import(): move it to a lazily loaded module of its own (it fails when loaded from the code cache)`);
}

/**
 * The two `#!/usr/bin/env node` entries are made executable: tsc and the bundler write them
 * 0644, and only npm's own linking of the bin marks them (npx did not in a checkout whose
 * node_modules it judged out of date: "sh: ockle: Permission denied").
 */
export function markExecutable(): void {
  for (const f of [ENTRY, join(BUNDLE_DIR, 'main.js')]) chmodSync(f, 0o755);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await bundleDaemon();
  markExecutable();
}
