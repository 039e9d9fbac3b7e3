/**
 * Testers that prove a server serves: `tcp` (a port accepts connections), `http` (a URL answers
 * with the expected status and, optionally, body), `ping` (ICMP through the system `ping`) and
 * `command` (a local program's exit code). A failed probe is a result with detail and latency,
 * never an exception; the core's per-test `timeout` aborts a probe through its signal.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { OckleError, OperationAbortedError } from '../../src/errors.js';
import { defineDriver, type DriverContext, type Probe, type Tester } from '../types.js';
import { lastLine, run, splitArgs } from './process.js';
import { commandKey, commandTesterSketch, httpTesterSketch, pingTesterSketch, tcpTesterSketch } from './definition.js';

const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;

/** The host a test or control talks to: its own `host =`, else its server's. */
export function hostOf(own: string | undefined, ctx: DriverContext, what: string): string {
  const h = own ?? ctx.server?.host;
  if (!h)
    throw new OckleError('OCKLE_CONFIG_INVALID', `${ctx.id}: ${what} needs a host, and server "${ctx.server?.name ?? '?'}" has no host = either`, {
      hint: `Add host = … to [server] in servers/${ctx.server?.name ?? '…'}.ini, or to this section.`,
    });
  return h;
}

const aborted = (signal: AbortSignal): boolean => {
  if (signal.aborted) throw new OperationAbortedError();
  return false;
};

export class TcpTester implements Tester {
  constructor(
    readonly id: string,
    readonly host: string,
    readonly port: number,
  ) {}

  probe(signal: AbortSignal): Promise<Probe> {
    aborted(signal);
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const sock = connect({ host: this.host, port: this.port });
      const finish = (p: Probe | Error): void => {
        signal.removeEventListener('abort', onAbort);
        sock.destroy();
        if (p instanceof Error) reject(p);
        else resolve(p);
      };
      const onAbort = (): void => finish(new OperationAbortedError());
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('connect', () => {
        const latencyMs = ms(t0);
        finish({ passed: true, detail: `${this.host}:${this.port} accepts connections (${latencyMs} ms)`, latencyMs });
      });
      sock.once('error', (e: NodeJS.ErrnoException) =>
        finish({ passed: false, detail: `${this.host}:${this.port}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message)}`, latencyMs: ms(t0) }),
      );
    });
  }
}

export class HttpTester implements Tester {
  readonly #url: URL;
  readonly #expect: readonly string[];
  readonly #body: RegExp | null;
  readonly #tls: { ca?: Buffer; rejectUnauthorized: boolean };

  constructor(
    readonly id: string,
    url: string,
    o: { expect: readonly string[]; body?: string; ca?: Buffer; insecure: boolean },
  ) {
    this.#url = new URL(url);
    this.#expect = o.expect;
    this.#body = o.body ? new RegExp(o.body) : null;
    this.#tls = { ...(o.ca && { ca: o.ca }), rejectUnauthorized: !o.insecure };
  }

  #statusOk(code: number): boolean {
    return this.#expect.some((e) => (/^\dxx$/i.test(e) ? Math.floor(code / 100) === Number(e[0]) : Number(e) === code));
  }

  probe(signal: AbortSignal): Promise<Probe> {
    aborted(signal);
    const t0 = performance.now();
    const req = this.#url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      // agent: false, a new connection per probe: a reused keep-alive socket proves nothing.
      const r = req(this.#url, { method: 'GET', signal, agent: false, headers: { 'user-agent': 'ockle-test' }, ...this.#tls }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 65_536) body += c;
        });
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (!this.#statusOk(code)) return resolve({ passed: false, detail: `${this.#url.href}: HTTP ${code}, expected ${this.#expect.join(' or ')}`, latencyMs: ms(t0) });
          if (this.#body && !this.#body.test(body)) return resolve({ passed: false, detail: `${this.#url.href}: HTTP ${code} but the body does not match /${this.#body.source}/`, latencyMs: ms(t0) });
          const latencyMs = ms(t0);
          resolve({ passed: true, detail: `${this.#url.href}: HTTP ${code} in ${latencyMs} ms`, latencyMs });
        });
        res.on('error', () => {});
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (signal.aborted) return reject(new OperationAbortedError());
        resolve({ passed: false, detail: `${this.#url.href}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}`, latencyMs: ms(t0) });
      });
      r.end();
    });
  }
}

export class PingTester implements Tester {
  constructor(
    readonly id: string,
    readonly host: string,
    readonly count: number,
    readonly waitS: number,
  ) {}

  async probe(signal: AbortSignal): Promise<Probe> {
    aborted(signal);
    const r = await run(['ping', '-n', '-c', String(this.count), '-W', String(this.waitS), this.host], { timeoutMs: (this.count * this.waitS + 2) * 1000, signal });
    if (signal.aborted) throw new OperationAbortedError();
    if (r.spawnError) return { passed: false, detail: `cannot run ping: ${r.spawnError.code} (apt-get install iputils-ping)`, latencyMs: 0 };
    const rtt = /time[=<]([\d.]+) ?ms/.exec(r.stdout);
    const latency = rtt ? Number(rtt[1]) : Math.round(r.ms);
    if (r.code === 0) return { passed: true, detail: `reply from ${this.host}${rtt ? ` in ${rtt[1]} ms` : ''}`, latencyMs: latency };
    return { passed: false, detail: `no reply from ${this.host}${lastLine(r.stderr) ? `: ${lastLine(r.stderr)}` : ''}`, latencyMs: latency };
  }
}

export class CommandTester implements Tester {
  constructor(
    readonly id: string,
    readonly argv: readonly string[],
    readonly timeoutMs: number,
  ) {}

  async probe(signal: AbortSignal): Promise<Probe> {
    aborted(signal);
    const r = await run(this.argv, { timeoutMs: this.timeoutMs, signal });
    if (signal.aborted) throw new OperationAbortedError();
    const latencyMs = Math.round(r.ms);
    if (r.spawnError) return { passed: false, detail: `cannot run ${this.argv[0]}: ${r.spawnError.code}`, latencyMs };
    if (r.timedOut) return { passed: false, detail: `${this.argv[0]} did not finish within ${this.timeoutMs} ms`, latencyMs };
    const out = lastLine(r.stdout) || lastLine(r.stderr);
    return r.code === 0
      ? { passed: true, detail: `${this.argv[0]} exited 0${out ? `: ${out}` : ''}`, latencyMs }
      : { passed: false, detail: `${this.argv[0]} exited ${r.code}${out ? `: ${out}` : ''}`, latencyMs };
  }
}

const parseCommand = (line: string, ctx: DriverContext): string[] => {
  try {
    const argv = splitArgs(line);
    if (argv.length === 0) throw new Error('empty');
    return argv;
  } catch (err) {
    throw new OckleError('OCKLE_CONFIG_INVALID', `${ctx.id}: command = ${line}: ${(err as Error).message}`, { hint: 'Give the program and its arguments; quote arguments with spaces.' });
  }
};

export const tcpTesterDriver = defineDriver({
  ...tcpTesterSketch,
  create: (spec, ctx) => new TcpTester(ctx.id, hostOf(spec.host, ctx, 'the tcp test'), spec.port),
});

export const httpTesterDriver = defineDriver({
  ...httpTesterSketch,
  create: (spec, ctx) => {
    const url = spec.url.includes('{host}') ? spec.url.replace('{host}', hostOf(undefined, ctx, 'an http test with {host}')) : spec.url;
    if (spec.body_match) {
      try {
        new RegExp(spec.body_match);
      } catch (err) {
        throw new OckleError('OCKLE_CONFIG_INVALID', `${ctx.id}: body_match: ${(err as Error).message}`, { hint: 'Give a valid JavaScript regular expression.' });
      }
    }
    if (spec.insecure) ctx.log.warn({ test: ctx.id }, 'TLS certificate checks are off for this http test (insecure = true)');
    return new HttpTester(ctx.id, url, {
      expect: spec.expect_status.split(',').map((s) => s.trim()),
      ...(spec.body_match && { body: spec.body_match }),
      ...(spec.ca_file && { ca: readFileSync(spec.ca_file) }),
      insecure: spec.insecure,
    });
  },
});

export const pingTesterDriver = defineDriver({
  ...pingTesterSketch,
  create: (spec, ctx) => new PingTester(ctx.id, hostOf(spec.host, ctx, 'the ping test'), spec.count, spec.wait),
});

export const commandTesterDriver = defineDriver({
  ...commandTesterSketch,
  create: (spec, ctx) => new CommandTester(ctx.id, parseCommand(spec.command, ctx), spec.time_limit * 1000),
});

export { commandKey, parseCommand };
