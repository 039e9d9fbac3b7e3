/**
 * Renders docs/config.md from the schema, the driver templates and the built-in plugins'
 * templates, so the documentation is the schema. A development tool, not part of the config
 * floor (it needs every driver and plugin): `npm run docs`, or after a build
 * `node dist/tools/config-docs.js > docs/config.md`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultRegistry, type DriverRegistry } from '../drivers/registry.js';
import { builtinPluginTemplates } from '../plugins/registry.js';
import * as s from '../src/config/schema.js';
import type { Template } from '../src/config/types.js';

function table(t: Template): string {
  const rows = Object.entries(t).map(([k, spec]) => {
    const def = spec.required ? '**required**' : spec.default === undefined ? '–' : `\`${spec.format(spec.default) || '""'}\``;
    return `| \`${k}\` | ${spec.describe} | ${def} | ${spec.help}${spec.restart ? ' *(restart to apply)*' : ''} |`;
  });
  return `| Key | Kind | Default | Meaning |\n|---|---|---|---|\n${rows.join('\n')}\n`;
}

export function renderConfigDocs(
  registry: DriverRegistry = defaultRegistry(),
  plugins: ReadonlyMap<string, Template> = builtinPluginTemplates,
): string {
  const parts: string[] = [
    '# Configuration',
    '',
    'ockle reads a directory: `ockle.ini`, one file per device in `devices/`, one file per server in `servers/`.',
    'Values are INI text: durations like `500ms`, `30s`, `5m`, `1h`; lists comma-separated; booleans true/false.',
    '`ockle config check [DIR]` reports every problem with file:line and a fix. This file is generated from',
    '`src/config/schema.ts` and the drivers’ templates (`npm run docs`, or `node dist/tools/config-docs.js > docs/config.md`).',
    '',
    '## ockle.ini',
    '',
    '### [daemon]',
    table(s.daemonTemplate),
    '### [api]',
    table(s.apiTemplate),
    '### [pdudaemon]: the PDUDaemon-compatible face (LAVA, labgrid; docs/integrations.md)',
    table(s.pdudaemonTemplate),
    '### [servers]: defaults for every server',
    table(s.serverDefaultsTemplate),
    '### [plugins]',
    table(s.pluginsTemplate),
    'Each enabled plugin may have a `[plugins.NAME]` section with its own keys:',
    '',
    ...[...plugins].flatMap(([name, t]) => [`### [plugins.${name}]`, table(t)]),
    '### [token.NAME]: an API token',
    table(s.tokenTemplate),
    '## devices/NAME.ini',
    '',
    'One `[device]` section; NAME is the device id. Keys every device has:',
    '',
    table(s.deviceCommonTemplate),
    '## servers/NAME.ini',
    '',
    'NAME is the server name. `[server]`:',
    '',
    table(s.serverTemplate),
    'Each name in `outlets` is a section of the same file:',
    '',
    table(s.outletTemplate),
    'Each name in `controls` is a section with these keys plus its controller type’s keys:',
    '',
    table(s.controlCommonTemplate),
    'Each name in `tests` is a section with these keys plus its tester type’s keys:',
    '',
    table(s.testCommonTemplate),
    '## UPS files',
    '',
    'config/ups/NAME.ini (optional; docs/ups.md): NAME is the UPS name. `[ups]`, the source, has these keys plus its UPS type’s keys (below):',
    '',
    table(s.upsCommonTemplate),
    '`[policy]`, what a power cut does:',
    '',
    table(s.upsPolicyTemplate),
    '## Drivers',
    '',
  ];
  for (const kind of ['outlet', 'controller', 'tester', 'ups'] as const) {
    for (const type of registry.types(kind)) {
      const d = registry.get(kind, type)!;
      parts.push(`### ${kind} \`type = ${type}\``, '', d.description, '', table(d.template));
    }
  }
  return parts.join('\n');
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) process.stdout.write(renderConfigDocs());
