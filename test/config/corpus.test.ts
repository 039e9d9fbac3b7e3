/**
 * The broken-config corpus: each case breaks a copy of the bundled demo config in one way
 * and asserts the exact report line (file:line, what is wrong, how to fix it), and that the
 * config is refused.
 */
import { rm, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { checkConfig, loadConfig } from '../../src/config/load.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { ConfigError, formatProblem } from '../../src/errors.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

type Edit = (d: DemoCopy) => Promise<void>;
const replace =
  (file: string, from: string | RegExp, to: string): Edit =>
  async (d) => {
    const before = await d.read(file);
    const after = before.replace(from, to);
    if (after === before) throw new Error(`fixture edit did not apply to ${file}: ${String(from)}`);
    await d.write(file, after);
  };
const append =
  (file: string, text: string): Edit =>
  async (d) =>
    d.write(file, (await d.read(file)) + text);

const create =
  (file: string, text: string): Edit =>
  async (d) =>
    d.write(file, text);

interface Case {
  readonly mistake: string;
  readonly edit: Edit;
  /** The exact formatted problem line that must be reported. */
  readonly expected: string;
}

// Line numbers refer to the demo files in config/ (see the `ockle.ini` and servers/*.ini there).
const CASES: Case[] = [
  {
    mistake: 'unknown key with a suggestion',
    edit: replace('servers/vm-1.ini', 'description =', 'descripton ='),
    expected: 'servers/vm-1.ini:3: unknown key "descripton" in [server] Did you mean "description"?',
  },
  {
    mistake: 'unknown key in ockle.ini [servers] with a suggestion',
    edit: replace('ockle.ini', 'boot_timeout = 2m', 'boot_timout = 2m'),
    expected: 'ockle.ini:19: unknown key "boot_timout" in [servers] Did you mean "boot_timeout"?',
  },
  {
    mistake: 'not a whole number',
    edit: replace('devices/pdu-a.ini', 'outlets = 8', 'outlets = eight'),
    expected: 'devices/pdu-a.ini:5: outlets = eight: "eight" is not a whole number Write an integer 1–64.',
  },
  {
    mistake: 'integer out of range',
    edit: replace('ockle.ini', 'max_attempts = 3', 'max_attempts = 99'),
    expected: 'ockle.ini:18: max_attempts = 99: 99 is out of range Use an integer 1–20.',
  },
  {
    mistake: 'not a duration',
    edit: replace('ockle.ini', 'shutdown_timeout = 1m', 'shutdown_timeout = 1 minute'),
    expected: 'ockle.ini:20: shutdown_timeout = 1 minute: "1 minute" is not a duration Write a number with a unit: 500ms, 30s, 5m, 1h.',
  },
  {
    mistake: 'duration below its minimum',
    edit: replace('ockle.ini', 'test_interval = 2s', 'test_interval = 5ms'),
    expected: 'ockle.ini:21: test_interval = 5ms: 5ms is out of range Use a duration 10ms–24d.',
  },
  {
    mistake: 'not a boolean',
    edit: replace('ockle.ini', 'local_token = true', 'local_token = maybe'),
    expected: 'ockle.ini:14: local_token = maybe: "maybe" is not a boolean Write true or false.',
  },
  {
    mistake: 'select value not allowed, with a suggestion',
    edit: replace('ockle.ini', 'on_shutdown_timeout = fail', 'on_shutdown_timeout = cutt'),
    expected: 'ockle.ini:22: on_shutdown_timeout = cutt: "cutt" is not allowed Use one of: cut, fail. Did you mean "cut"?',
  },
  {
    mistake: 'required key missing',
    edit: replace('servers/db-1.ini', /\[power\]\ndevice = pdu-a\n/, '[power]\n'),
    expected: 'servers/db-1.ini:10: [power] needs key "device" Add device = … (Device id: the base name of a devices/*.ini file.)',
  },
  {
    mistake: 'unknown section in ockle.ini',
    edit: append('ockle.ini', '\n[sever]\nx = 1\n'),
    expected: 'ockle.ini:53: unknown section [sever] in ockle.ini Did you mean [servers]?',
  },
  {
    mistake: 'unknown device, listing the defined ones',
    edit: replace('servers/web-1.ini', 'device = pdu-b', 'device = pdu-3'),
    expected:
      'servers/web-1.ini:12: outlet "power" names device "pdu-3", which is not defined (defined: pdu-a, pdu-b, relay-1). Did you mean "pdu-a"? Add config/devices/pdu-3.ini or correct the name.',
  },
  {
    mistake: 'outlet number beyond the device',
    edit: replace('servers/vm-1.ini', 'outlet = 4', 'outlet = 12'),
    expected: 'servers/vm-1.ini:13: outlet 12 is beyond device "pdu-a", which has 8 outlets Use an outlet from 1 to 8.',
  },
  {
    mistake: 'the same outlet given to two servers',
    edit: replace('servers/web-2.ini', 'outlet = 5', 'outlet = 4'),
    expected:
      'servers/web-2.ini:13: outlet 4 of "pdu-b" is already given to server "web-1" (servers/web-1.ini:13) An outlet powers one server: correct one of the two.',
  },
  {
    mistake: 'dependency on an unknown server, with a suggestion',
    edit: replace('servers/web-1.ini', 'dependencies = db-1', 'dependencies = db-2'),
    expected: 'servers/web-1.ini:8: dependency "db-2" is not a configured server Did you mean "db-1"? Servers are the files in servers/.',
  },
  {
    mistake: 'dependency cycle named in full',
    edit: replace('servers/storage-1.ini', 'dependencies = core-switch', 'dependencies = core-switch, web-1'),
    expected:
      'servers/db-1.ini:8: dependency cycle: db-1 → storage-1 → web-1 → db-1 Servers cannot start in any order: remove one of these dependencies.',
  },
  {
    mistake: 'self-dependency',
    edit: replace('servers/backup.ini', 'dependencies = core-switch', 'dependencies = backup, core-switch'),
    expected: 'servers/backup.ini:8: server "backup" depends on itself Remove it from its own dependencies.',
  },
  {
    mistake: 'a list naming a missing section',
    edit: replace('servers/vm-2.ini', 'tests = ping', 'tests = pign'),
    expected: 'servers/vm-2.ini:7: tests names section [pign], which is not in this file Did you mean "ping"?',
  },
  {
    mistake: 'a section named by two lists',
    edit: replace('servers/vm-3.ini', 'controls = os', 'controls = os, ping'),
    expected: 'servers/vm-3.ini:7: section [ping] is named by both controls and tests Give each outlet, control and test its own section.',
  },
  {
    mistake: 'unknown driver type, with a suggestion and the list',
    edit: replace('devices/relay-1.ini', 'type = sim', 'type = simm'),
    expected: 'devices/relay-1.ini:4: unknown outlet type "simm" Did you mean "sim"? Known outlet types: gpio-relay, ipmi, modbus-relay, powerman, redfish, serial-relay, shelly, sim, snmp-pdu, tasmota, wol.',
  },
  {
    mistake: 'duplicate key',
    edit: replace('devices/pdu-b.ini', 'outlets = 8\n', 'outlets = 8\noutlets = 16\n'),
    expected: 'devices/pdu-b.ini:6: key "outlets" is set twice in [device] (first at line 5) Keep one of the two lines.',
  },
  {
    mistake: 'duplicate section',
    edit: append('servers/core-switch.ini', '\n[ping]\ntype = sim\n'),
    expected: 'servers/core-switch.ini:16: section [ping] appears twice (first at line 12) Merge the two sections into one.',
  },
  {
    mistake: 'malformed line',
    edit: replace('servers/vm-1.ini', 'host = vm-1.lab.example', 'host vm-1.lab.example'),
    expected: 'servers/vm-1.ini:4: the line starting with "host" is not "key = value" Write key = value, or start the line with ; to make it a comment.',
  },
  {
    mistake: 'listen address that is no address',
    edit: replace('ockle.ini', 'listen = 127.0.0.1', 'listen = 256.1.1.1'),
    expected: 'ockle.ini:11: listen = 256.1.1.1 is not an IP address or a host name Use 127.0.0.1 (this machine only), ::1, an address of this machine, or 0.0.0.0 / :: (every address).',
  },
  {
    mistake: 'state_dir that is a file',
    edit: async (d) => {
      await d.write('../not-a-dir', 'a file\n');
      await replace('ockle.ini', 'state_dir = ../state', 'state_dir = ../not-a-dir')(d);
    },
    expected: 'ockle.ini:6: state_dir = ../not-a-dir is not a directory Point state_dir at a directory ockle may create and write (e.g. /var/lib/ockle).',
  },
  {
    // The line may hold a secret: it is never echoed, only what looks like its key.
    mistake: 'mistyped secret line',
    edit: append('devices/pdu-b.ini', 'password: S3cret-do-not-echo\n'),
    expected: 'devices/pdu-b.ini:10: the line starting with "password" is not "key = value" Write key = value, or start the line with ; to make it a comment.',
  },
  {
    mistake: 'a line with no key',
    edit: append('devices/pdu-b.ini', '= S3cret-do-not-echo\n'),
    expected: 'devices/pdu-b.ini:10: the line has no key before "=" Write key = value, or start the line with ; to make it a comment.',
  },
  {
    mistake: 'server file without [server]',
    edit: replace('servers/web-2.ini', '[server]\n', '[srever]\n'),
    expected: 'servers/web-2.ini:1: servers/web-2.ini has no [server] section Start the file with [server] and its outlets, controls, tests and dependencies.',
  },
  {
    mistake: 'missing ockle.ini',
    edit: async (d) => rm(join(d.configDir, 'ockle.ini')),
    expected:
      'ockle.ini: ockle.ini is missing Create ockle.ini in <dir> (see config/ockle.ini in the ockle repository for an example) or pass the right --config.',
  },
  {
    mistake: 'bad server file name',
    edit: async (d) => rename(join(d.configDir, 'servers', 'backup.ini'), join(d.configDir, 'servers', 'Backup Box.ini')),
    expected: 'servers/Backup Box.ini: server file name "Backup Box.ini" is not a name of lowercase letters, digits, "-" and "_" Rename the file; the server name is its base name.',
  },
  {
    mistake: 'unknown plugin in enabled',
    edit: replace('ockle.ini', 'enabled = auto-control', 'enabled = auto-control, loger'),
    expected: 'ockle.ini:27: unknown plugin "loger" in enabled Did you mean "logger"?',
  },
  {
    mistake: 'unknown plugin in enabled, nothing close',
    edit: replace('ockle.ini', 'enabled = auto-control', 'enabled = auto-control, grafana'),
    expected: 'ockle.ini:27: unknown plugin "grafana" in enabled Available plugins: auto-control, logger, metrics, mqtt, timer-example.',
  },
  {
    mistake: 'section for an unknown plugin',
    edit: append('ockle.ini', '\n[plugins.loger]\nlog_resolution = 5s\n'),
    expected: 'ockle.ini:53: section [plugins.loger] is for an unknown plugin "loger" Did you mean [plugins.logger]?',
  },
  {
    mistake: 'token hash that is not a SHA-256',
    edit: append('ockle.ini', '\n[token.alice]\nrole = operator\nsha256 = abc123\n'),
    expected: 'ockle.ini:55: sha256 = abc123: "abc123" is not 64 lowercase hex digits (the SHA-256 of the token)',
  },
  {
    mistake: 'a server listed twice in dependencies',
    edit: replace('servers/vm-1.ini', 'dependencies = storage-1, storage-2', 'dependencies = storage-1, storage-2, storage-1'),
    expected: 'servers/vm-1.ini:8: dependencies = storage-1, storage-2, storage-1: "storage-1" is listed twice List each name once.',
  },
  {
    mistake: 'key of a driver template misspelt',
    edit: replace('servers/db-1.ini', 'boot_time = 4s', 'boottime = 4s'),
    expected: 'servers/db-1.ini:20: unknown key "boottime" in [ping] Did you mean "boot_time"?',
  },
  {
    mistake: 'SNMPv3 without a user',
    edit: create('devices/pdu-snmp.ini', '[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nversion = 3\nauth_password = s3cret-pass\n'),
    expected: 'devices/pdu-snmp.ini:4: SNMPv3 needs a user Add user = … (and auth_password, priv_password for authNoPriv / authPriv).',
  },
  {
    mistake: 'a generic SNMP profile without its OIDs',
    edit: create('devices/pdu-snmp.ini', '[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nprofile = generic\nstatus_oid = 1.3.6.1.2.1.2.2.1.7\nstatus_on = 1\nstatus_off = 2\n'),
    expected: 'devices/pdu-snmp.ini:4: profile = generic needs control_oid Add control_oid = … (see docs/config.md, snmp-pdu).',
  },
  {
    mistake: 'an SNMP profile name misspelt',
    edit: create('devices/pdu-snmp.ini', '[device]\ntype = snmp-pdu\nhost = 127.0.0.1\nprofile = apc-rpud\n'),
    expected:
      'devices/pdu-snmp.ini:4: profile = apc-rpud: "apc-rpud" is not allowed Use one of: auto, apc-rpdu, apc-rpdu2, apc-spdu, raritan-px2, raritan-px1, eaton-epdu, hpe-epdu, cyberpower, sentry4, sentry3, tripplite, tripplite-pa15, generic. Did you mean "apc-rpdu"?',
  },
  {
    mistake: 'a tcp test on a server without a host',
    edit: create('servers/lab-box.ini', '[server]\noutlets = power\ntests = ssh\n\n[power]\ndevice = relay-1\noutlet = 3\n\n[ssh]\ntype = tcp\nport = 22\n'),
    expected: 'servers/lab-box.ini:9: [ssh] (tcp) needs a host, and [server] has no host either Add host = … to [server] (used by every test and control), or to this section.',
  },
  {
    mistake: 'the metrics plugin on the API port',
    edit: replace('ockle.ini', /^port = 0$/gm, 'port = 8420'),
    expected:
      'ockle.ini:40: [plugins.metrics] port 8420 on 127.0.0.1 clashes with [api] port 8420 on 127.0.0.1 (ockle.ini:12): only one of them can listen Set port = another free port in [plugins.metrics] (0: any free port), or make both listen on different specific addresses.',
  },
  {
    mistake: 'the API on every address, on the metrics plugin’s default port',
    edit: async (d) => {
      await replace('ockle.ini', /^listen = 127\.0\.0\.1\nport = 0\n; The daemon/m, 'listen = 0.0.0.0\nport = 9464\n; The daemon')(d);
      await replace('ockle.ini', /^port = 0\n\n\[plugins\.timer-example\]/m, '\n[plugins.timer-example]')(d);
    },
    expected:
      'ockle.ini:37: [plugins.metrics] port 9464 (the default) on 127.0.0.1 clashes with [api] port 9464 on 0.0.0.0 (ockle.ini:12): only one of them can listen Set port = another free port in [plugins.metrics] (0: any free port), or make both listen on different specific addresses.',
  },
];

describe('broken-config corpus', () => {
  let demo: DemoCopy;
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('the unbroken demo config loads with no problem at all', async () => {
    const { problems, config } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(problems).toEqual([]);
    expect(config?.servers).toHaveLength(10);
  });

  it.each(CASES)('reports $mistake', async ({ edit, expected }) => {
    await edit(demo);
    const { problems, config } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(config).toBeUndefined();
    expect(problems.map(formatProblem)).toContain(expected.replace('<dir>', demo.configDir));
    await expect(loadConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates })).rejects.toBeInstanceOf(ConfigError);
  });

  it('reports every problem at once, sorted by file and line', async () => {
    for (const c of [CASES[0]!, CASES[2]!, CASES[10]!, CASES[14]!]) await c.edit(demo);
    const { problems } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    const lines = problems.filter((p) => p.severity === 'error').map(formatProblem);
    expect(lines).toEqual([
      CASES[2]!.expected,
      CASES[14]!.expected,
      CASES[0]!.expected,
      CASES[10]!.expected,
    ]);
  });

  it('covers at least twenty distinct mistakes', () => {
    expect(new Set(CASES.map((c) => c.mistake)).size).toBeGreaterThanOrEqual(20);
  });
});
