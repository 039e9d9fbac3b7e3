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
 * Run by `npm run build` after tsc: `node dist/tools/bundle-daemon.js`.
 */
import { rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(DIST, 'src', 'cli', 'main.js');
export const BUNDLE_DIR = join(DIST, 'bundle');

/**
 * Left to node_modules: see the header. Also fastify's schema compilers (Ajv, fast-json-stringify
 * and theirs): the API compiles a route's schema on its first request (src/api/schemas.ts), so
 * they load after the start; bundled, their ~0.7 MB would be parsed at every start for nothing.
 */
const EXTERNAL =
  /^(node:|pino($|\/)|pino-pretty|thread-stream|net-snmp|serialport|@serialport\/|modbus-serial|ssh2|mqtt|node-sqlite3-wasm|ajv($|\/)|ajv-formats|@fastify\/ajv-compiler|fast-json-stringify|@fastify\/fast-json-stringify-compiler|@fastify\/merge-json-schemas|fast-uri|json-schema-traverse|json-schema-ref-resolver)/;

export async function bundleDaemon(): Promise<void> {
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  const build = await rolldown({
    input: { main: ENTRY },
    platform: 'node',
    external: (id) => EXTERNAL.test(id),
    logLevel: 'warn',
    plugins: [
      {
        name: 'ockle-import-meta-url',
        transform(code, id) {
          // The entry keeps its own URL: main.js runs only when it is the process's script.
          if (id === ENTRY || !id.startsWith(DIST + sep) || !code.includes('import.meta.url')) return null;
          const rel = relative(BUNDLE_DIR, id).split(sep).join('/');
          return { code: code.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), map: null };
        },
      },
    ],
  });
  await build.write({ dir: BUNDLE_DIR, format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', sourcemap: false });
  await build.close();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundleDaemon();
