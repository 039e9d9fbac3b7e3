/**
 * `ockle daemon`: runs the daemon in this process until SIGTERM/SIGINT, reloads on SIGHUP, and
 * talks to systemd (READY, RELOADING, STOPPING, the watchdog).
 */
import type { DestinationStream } from 'pino';
import { Daemon } from './daemon.js';
import { ConfigError, formatProblem, toOckleError } from './errors.js';
import { createLogger } from './log.js';
import { releaseSignals, takeSignals } from './signals.js';
import { createNotifier, type Notifier } from './systemd.js';

/**
 * Runs the daemon in this process until SIGTERM/SIGINT: the `ockle daemon` command and the
 * systemd unit's ExecStart. Exits with code 2 when the configuration is invalid.
 */
export async function runDaemon(opts: {
  configDir: string;
  logDestination?: DestinationStream;
  /** Called once the daemon is started (READY=1 sent). */
  onReady?: () => void;
  /** What became of the bundle's code cache at this start (src/code-cache.ts), for the log. */
  codeCache?: string;
}): Promise<void> {
  const bootLog = createLogger(opts.logDestination ? { destination: opts.logDestination } : {});
  const notifier: Notifier = createNotifier({ log: bootLog });
  let daemon: Daemon;
  // One handler per signal for the whole life of the process. Removing the last listener of a
  // signal and adding another can lose a signal that arrived in between, so the handlers stay
  // and dispatch on the phase. While starting (the API may already answer) a stop or reload is
  // remembered and done once started, never the signal's default action (killing mid-start).
  // The handlers may already be there since the first line of the process (src/cli/main.ts):
  // what came while modules loaded is queued, and taken here.
  let pending: { stop: string | null; reload: boolean } = { stop: null, reload: false };
  let onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') pending.reload = true;
    else pending.stop ??= signal;
  };
  for (const sig of takeSignals((sig) => onSignal(sig))) onSignal(sig);
  try {
    daemon = await Daemon.start({
      configDir: opts.configDir,
      pluginsAfterFirstAnswer: true,
      ...(opts.logDestination && { log: createLogger({ destination: opts.logDestination }) }),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) if (p.severity === 'error') bootLog.error({ file: p.file, line: p.line }, formatProblem(p));
      bootLog.fatal(`ockle not started: the configuration in ${opts.configDir} has errors (run \`ockle config check\`)`);
      process.exitCode = 2;
    } else {
      const e = toOckleError(err);
      bootLog.fatal({ code: e.code, hint: e.hint }, `ockle not started: ${e.message}`);
      process.exitCode = 1;
    }
    notifier.close();
    releaseSignals();
    return;
  }
  notifier.ready(`serving ${daemon.url}`);
  notifier.startWatchdog();
  if (opts.codeCache) daemon.log.debug({ codeCache: opts.codeCache }, 'code cache');
  opts.onReady?.();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const reload = (): void => {
      notifier.reloading();
      void daemon.reload().finally(() => notifier.ready(`serving ${daemon.url}`));
    };
    const stop = (signal: string): void => {
      stopping = true;
      daemon.log.info({ signal }, 'stopping (no outlet is switched)');
      notifier.stopping();
      void daemon
        .stop()
        .catch((err: unknown) => daemon.log.error({ err: toOckleError(err).message }, 'error while stopping'))
        .finally(() => {
          notifier.close();
          releaseSignals();
          resolve();
        });
    };
    onSignal = (signal) => {
      if (!stopping) return signal === 'SIGHUP' ? reload() : stop(signal);
      if (signal === 'SIGHUP') return;
      // A second stop signal while stopping: the operator wants out now. Nothing is switched
      // on stop, so leaving at once is safe.
      daemon.log.warn({ signal }, 'second stop signal: exiting without waiting for the clean stop');
      process.exit(1);
    };
    const early = pending;
    pending = { stop: null, reload: false };
    if (early.stop !== null) stop(early.stop);
    else if (early.reload) reload();
  });
}
