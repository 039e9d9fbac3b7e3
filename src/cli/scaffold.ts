/**
 * `ockle plugins new NAME [--dir DIR]`: writes a plugin that builds and passes its own test,
 * in its own directory, against the `ockle/plugin` SDK of the ockle that wrote it. Its code
 * imports ockle only as types (they vanish when compiled), so the built plugin runs wherever it
 * is installed; its test imports the SDK's test context, so it needs ockle as a devDependency.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_API_VERSION, PLUGIN_NAME } from '../config/plugin-manifest.js';
import { RequestValidationError } from '../errors.js';

export interface ScaffoldOptions {
  /** Where to write it (default `./ockle-plugin-NAME`), relative to `cwd`. */
  readonly dir?: string;
  readonly cwd: string;
  /** The ockle package the plugin develops against (default: the one running this). */
  readonly ockleRoot?: string;
}

export interface Scaffolded {
  readonly dir: string;
  /** The files written, relative to `dir`. */
  readonly files: readonly string[];
}

/** The root of the ockle package this file belongs to (works from src/ and dist/src/). */
export function ockleRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'ockle') return dir;
    } catch {
      // not here: look one level up
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the ockle package this runs from');
}

/**
 * Writes the plugin. Refuses, writing nothing, an invalid name or a directory that exists and
 * is not empty. @throws RequestValidationError (exit 2 in the CLI)
 */
export function scaffoldPlugin(name: string, o: ScaffoldOptions): Scaffolded {
  if (!PLUGIN_NAME.test(name))
    throw new RequestValidationError(`"${name}" is not a valid plugin name`, {
      hint: 'A plugin name is lower-case letters, digits and dashes, starting with a letter, at most 40 characters (e.g. `ockle plugins new door-bell`).',
    });
  const dir = resolve(o.cwd, o.dir ?? `ockle-plugin-${name}`);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new RequestValidationError(`${dir} exists and is not a directory`, { hint: 'Choose another place with --dir DIR.' });
    if (readdirSync(dir).length > 0) throw new RequestValidationError(`${dir} exists and is not empty; nothing was written`, { hint: 'Choose a new or empty directory with --dir DIR.' });
  }
  const root = o.ockleRoot ?? ockleRoot();
  const files = pluginFiles(name, root);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return { dir, files: Object.keys(files) };
}

/** The versions of the dev tools ockle itself is built with (read from its package.json). */
function devVersions(root: string): { typescript: string; typesNode: string; ockle: string } {
  let pkg: { version?: string; devDependencies?: Record<string, string> } = {};
  try {
    pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    // defaults below
  }
  return { typescript: pkg.devDependencies?.typescript ?? '^6.0.0', typesNode: pkg.devDependencies?.['@types/node'] ?? '^20.19.0', ockle: pkg.version ?? '0.0.0' };
}

const FENCE = '```';

function pluginFiles(name: string, root: string): Record<string, string> {
  const v = devVersions(root);
  const pkg = {
    name: `ockle-plugin-${name}`,
    version: '0.1.0',
    description: `An ockle plugin: counts server state changes and reports them on request.`,
    type: 'module',
    keywords: ['ockle-plugin'],
    files: ['dist', '!dist/**/*.test.*'],
    scripts: { build: 'tsc -p .', pretest: 'npm run build', test: 'node --test dist/*.test.js', prepack: 'npm run build' },
    ockle: {
      name,
      apiVersion: PLUGIN_API_VERSION,
      description: `Counts server state changes; \`ockle cmd ${name}.counts\` lists them.`,
      main: 'dist/plugin.js',
      role: 'viewer',
      settings: {
        top: { type: 'int', min: 1, max: 100, default: 10, help: 'How many servers the counts command lists, those with most changes first.' },
        log_changes: { type: 'bool', default: false, help: 'Also log every server state change.' },
      },
    },
    engines: { node: '>=20.19' },
    devDependencies: { '@types/node': v.typesNode, ockle: `file:${root}`, typescript: v.typescript },
  };
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2023'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      types: ['node'],
      strict: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      sourceMap: true,
      rootDir: 'src',
      outDir: 'dist',
    },
    include: ['src'],
  };
  return {
    'package.json': JSON.stringify(pkg, null, 2) + '\n',
    'tsconfig.json': JSON.stringify(tsconfig, null, 2) + '\n',
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    'src/plugin.ts': `/**
 * ${name}: an ockle worker plugin. It counts the state changes of each server and answers
 * \`ockle cmd ${name}.counts\` with them.
 *
 * It runs in a worker thread of the daemon, which calls start(ctx) once and stop(reason) at the
 * end. Everything it may do goes through ctx: settings (ctx.config), logging (ctx.log), the
 * daemon's events (ctx.on), its methods (ctx.call) and commands (ctx.command).
 *
 * Import ockle as types only (\`import type\`): they vanish when compiled. Installed into
 * <config>/plugins/${name}, the plugin runs where no \`ockle\` package can be imported.
 */
import type { PluginContext } from 'ockle/plugin';

/** State changes seen per server since start. */
const changes = new Map<string, number>();
let unsubscribe: (() => void) | undefined;

export function start(ctx: PluginContext): void {
  // ctx.config holds the [plugins.${name}] settings declared in package.json, defaults filled in.
  const top = Number(ctx.config.top);
  const logChanges = ctx.config.log_changes === true;
  changes.clear();

  // The payload is typed from the event's name: e.server, e.state, e.previous, e.reason.
  unsubscribe = ctx.on('server.changed', (e) => {
    changes.set(e.server, (changes.get(e.server) ?? 0) + 1);
    if (logChanges) ctx.log.info(\`\${e.server}: \${e.previous} -> \${e.state}\`, { reason: e.reason });
  });

  // \`ockle cmd ${name}.counts ['{"server":"web-1"}']\`, or POST /api/commands/${name}.counts; a
  // viewer token may run it. The daemon checks the arguments against \`params\` before the
  // handler runs (an unknown, mistyped or missing one is refused), and \`ockle cmd\` lists them.
  const params = { server: { type: 'string', help: 'Only this server.' } } as const;
  ctx.command('counts', { description: 'State changes per server since the plugin started, most first.', role: 'viewer', params }, async (args) => {
    const only = (args as { server?: string }).server;
    // ctx.call('servers') needs role viewer: package.json says "role": "viewer".
    const servers = await ctx.call('servers');
    const rows = servers
      .filter((s) => only === undefined || s.name === only)
      .map((s) => ({ server: s.name, state: s.state, changes: changes.get(s.name) ?? 0 }))
      .sort((a, b) => b.changes - a.changes || a.server.localeCompare(b.server))
      .slice(0, top);
    let total = 0;
    for (const n of changes.values()) total += n;
    return { total, servers: rows };
  });

  ctx.log.info('${name} started', { top, logChanges });
}

export function stop(_reason: string): void {
  unsubscribe?.();
  changes.clear();
}
`,
    'src/plugin.test.ts': `/**
 * The plugin under ockle's in-process test context: the test plays the daemon (answers
 * ctx.call, emits events) and runs the plugin's command. No daemon, no thread. A ctx.call the
 * daemon would refuse (unknown method, above the plugin's role, bad parameters) fails here too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { testContext } from 'ockle/plugin';
import * as plugin from './plugin.js';

/** The defaults declared in package.json, as the daemon fills them into ctx.config. */
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { ockle: { role: 'viewer'; settings: Record<string, { default?: unknown }> } };
const defaults = Object.fromEntries(Object.entries(manifest.ockle.settings).map(([k, s]) => [k, s.default]));

const servers = [
  { name: 'db-1', state: 'OK' },
  { name: 'web-1', state: 'OK' },
  { name: 'web-2', state: 'OFF' },
];

test('counts server changes and answers its command', async () => {
  const t = testContext({
    name: '${name}',
    role: manifest.ockle.role,
    config: { ...defaults, top: 2, log_changes: true },
    call: async (method) => (method === 'servers' ? servers : null),
  });
  await plugin.start(t.ctx);
  assert.ok(t.commands.has('counts'));
  assert.ok(t.logs.some((l) => l.msg === '${name} started'));

  t.emit('server.changed', { server: 'web-1', state: 'SWITCHING_OFF', previous: 'OK', reason: 'off requested' });
  t.emit('server.changed', { server: 'web-1', state: 'OFF', previous: 'SWITCHING_OFF', reason: 'outlets off' });
  t.emit('server.changed', { server: 'db-1', state: 'UNKNOWN', previous: 'OK', reason: 'pdu unreachable' });

  assert.deepEqual(await t.invoke('counts'), {
    total: 3,
    servers: [
      { server: 'web-1', state: 'OK', changes: 2 },
      { server: 'db-1', state: 'OK', changes: 1 },
    ],
  });
  assert.deepEqual(await t.invoke('counts', { server: 'db-1' }), { total: 3, servers: [{ server: 'db-1', state: 'OK', changes: 1 }] });
  // The daemon refuses arguments the command does not declare, before the handler runs; so does the test context.
  await assert.rejects(t.invoke('counts', { server: 1 }), /argument "server" must be a string/);
  assert.equal(t.logs.filter((l) => l.msg.startsWith('web-1:')).length, 2);
  assert.deepEqual(t.calls.map((c) => c.method), ['servers', 'servers']);
  await plugin.stop('test');
});

test('after stop it hears no more events', async () => {
  const t = testContext({ name: '${name}', role: manifest.ockle.role, config: defaults, call: async () => servers });
  await plugin.start(t.ctx);
  await plugin.stop('test');
  t.emit('server.changed', { server: 'web-2', state: 'OK', previous: 'OFF', reason: '' });
  const counts = (await t.invoke('counts')) as { total: number };
  assert.equal(counts.total, 0);
});
`,
    'README.md': `# ockle-plugin-${name}

An ockle plugin. It counts the state changes of each server and answers
\`ockle cmd ${name}.counts\` with them. Rename, rewrite and extend it: it is a starting point.

## Develop

${FENCE}sh
npm install        # typescript, @types/node, and ockle (for its plugin SDK)
npm run build      # src/*.ts -> dist/*.js
npm test           # builds, then tests the plugin under ockle's test context (node:test)
${FENCE}

\`ockle\` is a devDependency pointing at the ockle that wrote this directory
(\`${pkg.devDependencies.ockle}\`). If ockle moves, change that path, or link it by hand:
\`mkdir -p node_modules && ln -s /opt/ockle node_modules/ockle\`.

- \`src/plugin.ts\` is the plugin: \`start(ctx)\` and \`stop(reason)\`. It imports ockle only with
  \`import type\`, which vanishes when compiled. **Keep it that way**: installed into
  \`<config>/plugins/${name}\`, the plugin runs where no \`ockle\` package can be imported.
- \`src/plugin.test.ts\` tests it with \`testContext\` from \`ockle/plugin\`: the test plays the
  daemon, emits events and runs the plugin's commands.
- \`package.json\`'s \`ockle\` field is the manifest: the plugin's name, the plugin API version
  it is written for (${PLUGIN_API_VERSION}), its description, its built entry (\`dist/plugin.js\`), the
  role its \`ctx.call\`s need, and its settings with their types, defaults and help.

## Install into ockle

Either copy the built plugin into a folder of ockle's plugins directory (\`plugins\` beside
\`ockle.ini\`, e.g. \`/etc/ockle/plugins\`):

${FENCE}sh
npm run build
sudo mkdir -p /etc/ockle/plugins/${name}
sudo cp -r package.json dist /etc/ockle/plugins/${name}/
${FENCE}

or pack it and install the package into that directory with npm:

${FENCE}sh
npm pack                                              # builds, writes ockle-plugin-${name}-0.1.0.tgz
sudo npm install --prefix /etc/ockle/plugins ./ockle-plugin-${name}-0.1.0.tgz
${FENCE}

Then enable it, and check that it runs:

${FENCE}sh
ockle plugins enable ${name}       # or add it to [plugins] enabled in ockle.ini and reload
ockle plugins                         # ${name}  running  worker  …
ockle cmd ${name}.counts '{"server":"web-1"}'   # its declared argument: one server
${FENCE}

Its settings go in \`ockle.ini\`; \`ockle config check\` checks them against the manifest:

${FENCE}ini
[plugins.${name}]
top = 5
log_changes = yes
${FENCE}
`,
  };
}
