/**
 * sd_notify for a Node daemon. Node has no AF_UNIX datagram sockets, so messages go through
 * systemd's own `systemd-notify` binary, spawned without a shell. The sender is then a child
 * process, hence `NotifyAccess=all` in the unit. `--pid` names this process as the main PID,
 * and systemd-notify (≥ 246) waits for systemd to process the message (a barrier), so the
 * message is attributed to the unit even though the child exits right after.
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

export interface Notifier {
  ready(status?: string): void;
  status(text: string): void;
  reloading(): void;
  stopping(): void;
  /** WATCHDOG=1 every WATCHDOG_USEC/2 from the main loop, so a stuck loop is caught. */
  startWatchdog(isHealthy?: () => boolean): void;
  close(): void;
}

export function createNotifier(o: { env?: NodeJS.ProcessEnv; log: Logger; binary?: string }): Notifier {
  const env = o.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  let warned = false;
  let timer: NodeJS.Timeout | undefined;
  const send = (...assignments: string[]): void => {
    if (!socket) return;
    execFile(
      o.binary ?? 'systemd-notify',
      [`--pid=${process.pid}`, ...assignments],
      { env: { ...env, NOTIFY_SOCKET: socket }, timeout: 5000 },
      (err) => {
        if (err && !warned) {
          warned = true;
          o.log.warn({ err: err.message }, 'systemd-notify failed; systemd will not see readiness or watchdog pings');
        }
      },
    );
  };
  return {
    ready: (status) => send('--ready', ...(status ? [`--status=${status}`] : [])),
    status: (text) => send(`--status=${text}`),
    reloading: () => send('RELOADING=1', `MONOTONIC_USEC=${Math.round(performance.timeOrigin * 1000 + performance.now() * 1000)}`),
    stopping: () => send('STOPPING=1'),
    startWatchdog(isHealthy = () => true) {
      const usec = Number(env.WATCHDOG_USEC);
      if (!socket || !Number.isFinite(usec) || usec <= 0 || timer) return;
      timer = setInterval(() => {
        if (isHealthy()) send('WATCHDOG=1');
      }, Math.max(500, usec / 2000));
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
