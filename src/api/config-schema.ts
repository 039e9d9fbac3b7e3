/**
 * The configuration's templates as plain data, for the dashboard's forms (`GET /api/config/schema`):
 * every section of ockle.ini (daemon, api, servers, plugins, each known plugin's [plugins.NAME]),
 * a server file ([server] and an outlet binding section), devices (the common keys and each outlet
 * driver's), controls and tests (common keys and each type's). No value, only the schema.
 */
import type { DriverKind } from '../../drivers/types.js';
import { apiTemplate, controlCommonTemplate, daemonTemplate, deviceCommonTemplate, outletTemplate, pdudaemonTemplate, pluginsTemplate, serverDefaultsTemplate, serverTemplate, testCommonTemplate } from '../config/schema.js';
import type { KeyKind, Template } from '../config/types.js';

export interface SchemaKey {
  readonly key: string;
  readonly kind: KeyKind;
  /** The type in words: `integer 1–20`, `duration ≥ 1s (e.g. 30s, 5m)`… */
  readonly describe: string;
  readonly help: string;
  /** The default as it would be written; null when none (and for a secret). */
  readonly default: string | null;
  readonly required: boolean;
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly secret: boolean;
}
export interface SchemaType {
  readonly type: string;
  readonly description: string;
  readonly keys: readonly SchemaKey[];
}
export interface ConfigSchema {
  /** Sections of ockle.ini by name (`daemon`, `api`, `servers`, `plugins`, `plugins.NAME`). */
  readonly main: Readonly<Record<string, readonly SchemaKey[]>>;
  readonly server: { readonly server: readonly SchemaKey[]; readonly outlet: readonly SchemaKey[] };
  readonly devices: { readonly common: readonly SchemaKey[]; readonly types: readonly SchemaType[] };
  readonly controls: { readonly common: readonly SchemaKey[]; readonly types: readonly SchemaType[] };
  readonly tests: { readonly common: readonly SchemaKey[]; readonly types: readonly SchemaType[] };
}

export function templateKeys(t: Template): SchemaKey[] {
  return Object.entries(t).map(([key, s]) => {
    const secret = s.kind === 'secret';
    return {
      key,
      kind: s.kind,
      describe: s.describe,
      help: s.help,
      default: s.default === undefined || secret ? null : s.format(s.default),
      required: s.required,
      ...(s.choices && { choices: s.choices }),
      ...(s.min !== undefined && { min: s.min }),
      ...(s.max !== undefined && { max: s.max }),
      secret,
    };
  });
}

export function configSchema(drivers: readonly { kind: DriverKind; type: string; description: string; template: Template }[], plugins: ReadonlyMap<string, Template>): ConfigSchema {
  const types = (kind: DriverKind): SchemaType[] =>
    drivers
      .filter((d) => d.kind === kind)
      .sort((a, b) => a.type.localeCompare(b.type))
      .map((d) => ({ type: d.type, description: d.description, keys: templateKeys(d.template) }));
  return {
    main: {
      daemon: templateKeys(daemonTemplate),
      api: templateKeys(apiTemplate),
      servers: templateKeys(serverDefaultsTemplate),
      plugins: templateKeys(pluginsTemplate),
      pdudaemon: templateKeys(pdudaemonTemplate),
      ...Object.fromEntries([...plugins].sort(([a], [b]) => a.localeCompare(b)).map(([n, t]) => [`plugins.${n}`, templateKeys(t)])),
    },
    server: { server: templateKeys(serverTemplate), outlet: templateKeys(outletTemplate) },
    devices: { common: templateKeys(deviceCommonTemplate), types: types('outlet') },
    controls: { common: templateKeys(controlCommonTemplate), types: types('controller') },
    tests: { common: templateKeys(testCommonTemplate), types: types('tester') },
  };
}
