/**
 * Builds a small throwaway lab config from a compact description, for sequencer tests:
 * one sim PDU (or more), servers with sim tests and controls, and their dependencies.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LabServer {
  readonly deps?: readonly string[];
  /** `device:outlet`; default: the next free outlet of pdu-1. */
  readonly outlet?: string;
  readonly bootMs?: number;
  readonly shutdownMs?: number;
  readonly noControls?: boolean;
  readonly noTests?: boolean;
  readonly faults?: readonly ('never_boots')[];
  /** Extra lines for [server]. */
  readonly extra?: string;
}

export interface Lab {
  readonly configDir: string;
  readonly stateDir: string;
  cleanup(): Promise<void>;
}

/** The default lines, less those whose key `extra` sets (a key set twice is a config error), then `extra`. */
function withDefaults(defaults: string, extra = ''): string {
  const keys = new Set(extra.split('\n').map((l) => l.split('=')[0]!.trim()));
  return [...defaults.split('\n').filter((l) => !keys.has(l.split('=')[0]!.trim())), extra].join('\n');
}

export async function makeLab(
  servers: Record<string, LabServer>,
  o: { devices?: Record<string, string>; serversIni?: string; plugin?: string } = {},
): Promise<Lab> {
  const root = await mkdtemp(join(tmpdir(), 'ockle-lab-'));
  const configDir = join(root, 'config');
  await mkdir(join(configDir, 'devices'), { recursive: true });
  await mkdir(join(configDir, 'servers'), { recursive: true });
  await writeFile(
    join(configDir, 'ockle.ini'),
    `[daemon]\nstate_dir = ../state\nlog_level = warn\n\n[api]\nport = 0\n\n[servers]\n${withDefaults('max_attempts = 2\nboot_timeout = 3s\nshutdown_timeout = 2s\ntest_interval = 100ms', o.serversIni)}\n[plugins]\nenabled = auto-control\n${o.plugin ? `\n[plugins.auto-control]\n${o.plugin}\n` : ''}`,
  );
  const devices = o.devices ?? { 'pdu-1': '' };
  for (const [id, extra] of Object.entries(devices))
    await writeFile(
      join(configDir, 'devices', `${id}.ini`),
      `[device]\ntype = sim\n${withDefaults('outlets = 32\ninitial = off\nswitch_latency = 5ms\nread_latency = 1ms\npoll_interval = 10s', extra)}\n`,
    );
  let next = 1;
  for (const [name, s] of Object.entries(servers)) {
    const [device, outlet] = (s.outlet ?? `pdu-1:${next++}`).split(':');
    const lines = [
      '[server]',
      'outlets = power',
      ...(s.noControls ? [] : ['controls = os']),
      ...(s.noTests ? [] : ['tests = ping']),
      ...(s.deps && s.deps.length > 0 ? [`dependencies = ${s.deps.join(', ')}`] : []),
      ...(s.extra ? [s.extra] : []),
      '',
      '[power]',
      `device = ${device}`,
      `outlet = ${outlet}`,
      '',
      ...(s.noControls ? [] : ['[os]', 'type = sim', `shutdown_time = ${s.shutdownMs ?? 100}ms`, '']),
      ...(s.noTests
        ? []
        : ['[ping]', 'type = sim', `boot_time = ${s.bootMs ?? 200}ms`, 'probe_latency = 1ms', ...(s.faults ? [`fault = ${s.faults.join(', ')}`] : []), '']),
    ];
    await writeFile(join(configDir, 'servers', `${name}.ini`), lines.join('\n'));
  }
  return { configDir, stateDir: join(root, 'state'), cleanup: () => rm(root, { recursive: true, force: true }) };
}
