/**
 * The `ockle` CLI run in-process against a daemon: its output, error output and exit code, as
 * a shell would see them (no TTY, no environment, the config directory as the working one).
 */
import { main, type Io } from '../../src/cli/commands.js';

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
