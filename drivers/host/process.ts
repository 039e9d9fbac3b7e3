/**
 * Running a local program the safe way: argv only (never a shell), a time limit, an abort
 * signal, output captured (bounded). Used by the `command` control and tester and by `ping`.
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  /** Exit code; null when killed (timeout, abort) or not started. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES). */
  readonly spawnError?: NodeJS.ErrnoException;
}

const LIMIT = 64 * 1024;

/**
 * Runs `argv` (no shell). `stdin`: text written to the program's standard input, then closed (a
 * way to hand it a secret that is never on argv or on disk). `group`: the program runs in a
 * process group of its own, and a timeout or abort ends the whole group (a pipeline).
 */
export function run(argv: readonly string[], o: { timeoutMs: number; signal: AbortSignal; env?: NodeJS.ProcessEnv; stdin?: string; group?: boolean }): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(argv[0]!, argv.slice(1), { shell: false, stdio: [o.stdin !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: o.env ?? process.env, detached: o.group === true });
    if (o.stdin !== undefined) {
      child.stdin!.on('error', () => {}); // a program that exits before reading it: nothing to do
      child.stdin!.end(o.stdin);
    }
    const done = (r: Omit<RunResult, 'ms' | 'stdout' | 'stderr' | 'timedOut'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      resolve({ ...r, stdout, stderr, timedOut, ms: performance.now() - t0 });
    };
    const signalAll = (sig: NodeJS.Signals): void => {
      try {
        if (o.group && child.pid !== undefined) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // already gone
      }
    };
    const kill = (): void => {
      signalAll('SIGTERM');
      setTimeout(() => signalAll('SIGKILL'), 1000).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, o.timeoutMs);
    const onAbort = (): void => kill();
    o.signal.addEventListener('abort', onAbort, { once: true });
    if (o.signal.aborted) kill();
    child.stdout!.on('data', (b: Buffer) => (stdout = (stdout + b.toString()).slice(-LIMIT)));
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-LIMIT)));
    child.on('error', (err: NodeJS.ErrnoException) => done({ code: null, spawnError: err }));
    child.on('close', (code) => done({ code }));
  });
}

/**
 * Splits a command line into argv the way a POSIX shell splits words (single and double quotes,
 * backslash escapes), without any of the rest of a shell: no variables, globs, pipes or `;`.
 */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q === "'") {
      if (c === "'") q = null;
      else cur += c;
    } else if (q === '"') {
      if (c === '"') q = null;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (q) throw new Error(`unclosed ${q} quote`);
  if (has || cur) out.push(cur);
  return out;
}

/** The last line of a program's output worth showing (for details and errors). */
export function lastLine(s: string): string {
  return s.trim().split('\n').at(-1)?.trim().slice(0, 200) ?? '';
}
