/** The `command` control: a local program (no shell) asks the server to shut down; exit 0 = accepted. */
import { ControlError, ControlTimeoutError, OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type Controller } from '../types.js';
import { lastLine, run } from './process.js';
import { commandControllerSketch } from './definition.js';
import { parseCommand } from './testers.js';

export class CommandController implements Controller {
  constructor(
    readonly id: string,
    readonly argv: readonly string[],
  ) {}

  async shutdown(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new OperationAbortedError();
    const r = await run(this.argv, { timeoutMs: 24 * 3600_000, signal });
    if (r.spawnError) throw new ControlError(`cannot run ${this.argv[0]}: ${r.spawnError.code}`, { hint: 'Use the full path of an installed program.' });
    if (signal.aborted) throw new ControlTimeoutError(`${this.argv[0]} was stopped before it finished`);
    if (r.code !== 0) {
      const why = lastLine(r.stderr) || lastLine(r.stdout);
      throw new ControlError(`${this.argv[0]} exited ${r.code}${why ? `: ${why}` : ''}`, { hint: 'Run the command by hand as the daemon user to see why.' });
    }
  }
}

export const commandControllerDriver = defineDriver({
  ...commandControllerSketch,
  create: (spec, ctx) => new CommandController(ctx.id, parseCommand(spec.command, ctx)),
});
