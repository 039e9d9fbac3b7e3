/**
 * sd_notify for a Node daemon (systemd's readiness, status, reload, stop and watchdog protocol).
 *
 * Node has no AF_UNIX datagram sockets, so each message goes through systemd's own
 * `systemd-notify` binary, spawned without a shell (execFile, argv array; nothing secret is
 * ever in a message). The sender is then a child process, hence `NotifyAccess=all` in the
 * unit: with `NotifyAccess=main` systemd would drop every message.
 *
 * Flag choices, checked against systemd-notify(1) and src/notify/notify.c (systemd 246–258):
 * - No `--no-block`. Without it systemd-notify sends a barrier after the message and waits
 *   (up to 5 s) until systemd has processed both. systemd attributes a datagram to a unit by
 *   looking up the sender PID's cgroup; a child that exits before systemd reads its message
 *   cannot be attributed and the message is dropped (the classic race of shell scripts
 *   calling systemd-notify). The barrier closes that race.
 * - `--pid=<our pid>`: the message carries MAINPID=<node's pid>, which already is the main
 *   PID under `ExecStart=/usr/bin/node …`, so it changes nothing then; it keeps systemd
 *   tracking node (not the short-lived child) should ockle ever be started through a wrapper.
 *   As root systemd-notify also sends with node's credentials; unprivileged it falls back to
 *   its own, which `NotifyAccess=all` accepts.
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

/** The messages ockle sends to systemd. Every method is a no-op outside systemd (no NOTIFY_SOCKET). */
export interface Notifier {
  /** READY=1 (start-up or a reload finished), optionally with a status line. */
  ready(status?: string): void;
  /** STATUS=<text>: the one-line status `systemctl status ockle` shows. */
  status(text: string): void;
  /**
   * RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, as `Type=notify-reload` requires).
   * Call {@link Notifier.ready} when the reload is done, whether it applied or not.
   */
  reloading(): void;
  /** STOPPING=1: the daemon received SIGTERM and is shutting down (no outlet is switched). */
  stopping(): void;
  /**
   * Sends WATCHDOG=1 every WATCHDOG_USEC/2 from a timer on the main event loop, so a stuck
   * loop stops the pings and systemd restarts the service. A tick where `isHealthy()` returns
   * false sends nothing. No-op when systemd asked for no watchdog (or for another PID's).
   */
  startWatchdog(isHealthy?: () => boolean): void;
  /** Stops the watchdog timer. Messages already sent are not taken back. */
  close(): void;
}

/** Options of {@link createNotifier}. */
export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** A failure to notify is logged here at warn, once. */
  log: Logger;
  /** The systemd-notify binary; default `systemd-notify` on the PATH. */
  binary?: string;
}

/** CLOCK_MONOTONIC in microseconds: libuv's hrtime is CLOCK_MONOTONIC on Linux. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** Creates the notifier; it never throws and never crashes the daemon when systemd is unreachable. */
export function createNotifier(opts: NotifierOptions): Notifier {
  const env = opts.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  let warned = false;
  let timer: NodeJS.Timeout | undefined;

  const send = (...args: string[]): void => {
    if (!socket) return;
    try {
      execFile(
        opts.binary ?? 'systemd-notify',
        [`--pid=${process.pid}`, ...args],
        // Longer than systemd-notify's own 5 s barrier timeout, so it reports its own error.
        { env: { ...env, NOTIFY_SOCKET: socket }, timeout: 10_000, windowsHide: true },
        (err, _stdout, stderr) => {
          if (!err || warned) return;
          warned = true;
          opts.log.warn(
            { err: err.message, stderr: stderr.trim() || undefined, notifySocket: socket },
            'systemd-notify failed: systemd may not see readiness, status or watchdog pings; check that the systemd package is installed (further failures are not logged)',
          );
        },
      );
    } catch (err) {
      // execFile throws synchronously only on invalid arguments; still never crash the daemon.
      if (!warned) {
        warned = true;
        opts.log.warn({ err: (err as Error).message }, 'systemd-notify could not be started (further failures are not logged)');
      }
    }
  };

  return {
    ready: (status) => send('--ready', ...(status ? [`--status=${status}`] : [])),
    status: (text) => send(`--status=${text}`),
    reloading: () => send('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`),
    stopping: () => send('STOPPING=1'),
    startWatchdog(isHealthy = () => true) {
      const usec = Number(env.WATCHDOG_USEC);
      if (!socket || timer || !Number.isFinite(usec) || usec <= 0) return;
      // sd_watchdog_enabled(3): a WATCHDOG_PID naming another process means the watchdog is not ours.
      if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return;
      timer = setInterval(() => {
        if (isHealthy()) send('WATCHDOG=1');
      }, Math.max(100, Math.floor(usec / 2000)));
      // The daemon's own handles keep it alive; the ping timer must not hold an exit.
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
