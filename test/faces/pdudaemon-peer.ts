/**
 * Debian's `pdudaemon` (the reference implementation of the PDUDaemon HTTP API) started on
 * 127.0.0.1 at a free port, configured in a temp dir: each PDU uses its `localcmdline` driver,
 * whose on/off commands append "PORT on|off" to a file, so every write it made can be counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PduDaemonPeer {
  readonly port: number;
  readonly url: string;
  /** Every write its driver made on `pdu`, oldest first: "3 off", "3 on"… */
  writes(pdu: string): string[];
  /** Its own log (for a failure message). */
  log(): string;
  close(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Starts `pdudaemon` with an HTTP listener and one localcmdline PDU per name in `pdus`. */
export async function startPduDaemon(pdus: readonly string[], binary = 'pdudaemon'): Promise<PduDaemonPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'ockle-pdudaemon-'));
  const port = await freePort();
  const conf = {
    daemon: { hostname: '127.0.0.1', port, logging_level: 'INFO', listener: 'http' },
    pdus: Object.fromEntries(
      pdus.map((p) => [p, { driver: 'localcmdline', cmd_on: `echo '%s on' >> ${join(dir, `${p}.writes`)}`, cmd_off: `echo '%s off' >> ${join(dir, `${p}.writes`)}` }]),
    ),
  };
  writeFileSync(join(dir, 'pdudaemon.conf'), JSON.stringify(conf, null, 2));
  const logFile = join(dir, 'pdudaemon.log');
  const child: ChildProcess = spawn(binary, ['--conf', join(dir, 'pdudaemon.conf'), '--logfile', logFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = (): string => {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      // not written yet
    }
    return text + stderr;
  };
  // Ready when it accepts a connection (it logs nothing reliable to wait for); 10 s is far more
  // than its start takes, and only bounds a daemon that will never come up.
  for (let i = 0; !(await accepting(port)); i++) {
    if (child.exitCode !== null || i > 200) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pdudaemon did not start on 127.0.0.1:${port}:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    writes: (pdu) => {
      try {
        return readFileSync(join(dir, `${pdu}.writes`), 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    log,
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
