#!/usr/bin/env node
/**
 * The `ockle` binary. It loads nothing before the daemon's signal handlers are in place: module
 * loading takes a while on a Pi, and a SIGTERM in that time must stop the daemon cleanly (it is
 * held and honoured once started), never kill it by the signal's default action. The commands
 * themselves are in commands.ts.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { holdSignals } from '../signals.js';

const self = fileURLToPath(import.meta.url);
let invoked = '';
try {
  invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
} catch {
  // not started from a file (node -e, a REPL)
}
// Run when executed as the `ockle` binary (also through an npm bin symlink).
if (invoked === self) {
  // Only the daemon holds signals: any other command keeps their default action (a Ctrl-C
  // while `ockle status` loads ends it at once).
  if (process.argv.slice(2).find((a) => !a.startsWith('-')) === 'daemon') {
    holdSignals();
    // For tests and start-up debugging: the moment from which a stop signal is held.
    if (process.env.OCKLE_TRACE_START) process.stderr.write('ockle: stop signals held\n');
  }
  // `ockle devices | head`: the reader went away. Stop quietly, as Unix tools do, instead of
  // dying with an EPIPE stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === 'version') {
    // What scripts and health checks run most: the version alone, without loading the commands.
    const { packageVersion } = await import('../version.js');
    process.stdout.write(`ockle ${packageVersion()}\n`);
  } else {
    const { main } = await import('./commands.js');
    process.exitCode = await main(args, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
  }
}
