/**
 * The `ockle` CLI run in-process against a daemon: its output, error output and exit code, as
 * a shell would see them (no TTY, no environment, the config directory as the working one).
 */
import { afterAll, beforeAll } from 'vitest';
import type { SimWorld } from '../../drivers/sim/world.js';
import { main, type Io } from '../../src/cli/commands.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from './demo.js';

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** A runner of `ockle ARGS… --config DIR` for the config directory `dir()` names when it runs. */
export function cliRunner(dir: () => string): (...args: string[]) => Promise<CliResult> {
  return async (...args) => {
    let out = '';
    let err = '';
    const io: Io = { stdout: { write: (s: string) => (out += s), isTTY: false }, stderr: { write: (s: string) => (err += s) }, env: {}, cwd: dir() };
    const code = await main([...args, '--config', dir()], io);
    return { code, out, err };
  };
}

/** The demo lab's outlet writes, summed over its sim devices (what "nothing switched" counts). */
export function demoWrites(d: Daemon): number {
  const world = d.shared<SimWorld>('sim-world')!;
  return ['pdu-a', 'pdu-b', 'relay-1'].reduce((n, id) => n + world.writes(id).count, 0);
}

/**
 * For a suite of CLI tests on the demo lab: a copy of the demo config and a daemon on it (any
 * free port, no polls), started before the suite and stopped after; `run` is the CLI on it.
 */
export function demoDaemon(): { readonly demo: DemoCopy; readonly d: Daemon; run: (...args: string[]) => Promise<CliResult>; writes: () => number } {
  let demo: DemoCopy | undefined;
  let d: Daemon | undefined;
  beforeAll(async () => {
    demo = await demoConfig();
    d = await Daemon.start({ configDir: demo.configDir, log: silentLogger(), port: 0, monitor: false });
  });
  afterAll(async () => {
    await d?.stop();
    await demo?.cleanup();
  });
  return {
    get demo() {
      return demo!;
    },
    get d() {
      return d!;
    },
    run: cliRunner(() => demo!.configDir),
    writes: () => demoWrites(d!),
  };
}
