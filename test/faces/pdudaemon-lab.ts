/**
 * A small ockle lab for the PDUDaemon face's tests and benchmark: sim PDUs (`pdu-a` starts with
 * every outlet on, `pdu-b` off) and one server, web-1 on pdu-a outlet 1, with sim control and
 * test; auto-control runs (for the server-name form) and `[pdudaemon]` listens on 127.0.0.1.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PduLab {
  readonly configDir: string;
  /** Rewrites ockle.ini with other `[pdudaemon]` lines (for a reload); null: no section. */
  setPduDaemon(lines: string | null): Promise<void>;
  cleanup(): Promise<void>;
}

/** `pdudaemon`: the lines of its section (null: no section); `apiPort`: [api] port (default 0, a free one). */
export async function makePduLab(o: { pdudaemon: string | null; tokens?: string; switchLatency?: string; readLatency?: string; apiPort?: number }): Promise<PduLab> {
  const root = await mkdtemp(join(tmpdir(), 'ockle-pdulab-'));
  const configDir = join(root, 'config');
  await mkdir(join(configDir, 'devices'), { recursive: true });
  await mkdir(join(configDir, 'servers'), { recursive: true });
  const ini = (pdudaemon: string | null): string =>
    [
      '[daemon]',
      'state_dir = ../state',
      'log_level = warn',
      '',
      '[api]',
      `port = ${o.apiPort ?? 0}`,
      '',
      '[servers]',
      'boot_timeout = 3s',
      'shutdown_timeout = 2s',
      'test_interval = 100ms',
      '',
      '[plugins]',
      'enabled = auto-control',
      '',
      // No section at all for null; otherwise enabled on 127.0.0.1 at a free port, unless the lines say otherwise.
      ...(pdudaemon === null
        ? []
        : [
            '[pdudaemon]',
            ...Object.entries({ enabled: 'true', listen: '127.0.0.1', port: '0' }).flatMap(([k, v]) => (new RegExp(`^${k}\\b`, 'm').test(pdudaemon) ? [] : [`${k} = ${v}`])),
            pdudaemon,
          ]),
      '',
      o.tokens ?? '',
    ].join('\n');
  await writeFile(join(configDir, 'ockle.ini'), ini(o.pdudaemon));
  const device = (initial: string): string =>
    `[device]\ntype = sim\noutlets = 8\ninitial = ${initial}\nswitch_latency = ${o.switchLatency ?? '1ms'}\nread_latency = ${o.readLatency ?? '1ms'}\nnative_cycle = false\ncycle_delay = 0\nconfirm_timeout = 300ms\npoll_interval = 1h\n`;
  await writeFile(join(configDir, 'devices', 'pdu-a.ini'), device('on'));
  await writeFile(join(configDir, 'devices', 'pdu-b.ini'), device('off'));
  await writeFile(
    join(configDir, 'servers', 'web-1.ini'),
    '[server]\noutlets = power\ncontrols = os\ntests = ping\n\n[power]\ndevice = pdu-a\noutlet = 1\n\n[os]\ntype = sim\nshutdown_time = 50ms\n\n[ping]\ntype = sim\nboot_time = 100ms\nprobe_latency = 1ms\n',
  );
  return {
    configDir,
    setPduDaemon: (lines) => writeFile(join(configDir, 'ockle.ini'), ini(lines)),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
