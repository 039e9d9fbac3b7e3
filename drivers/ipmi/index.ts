/**
 * `ipmi` outlet device (one BMC = one outlet: the chassis) and `ipmi-soft` control, through
 * Debian's `ipmitool` over `lanplus` (IPMI 2.0 / RMCP+). ipmitool is spawned without a shell;
 * the password goes through the environment (`-E` reads IPMI_PASSWORD), never argv, so it is
 * not visible in `ps`. Many BMCs are queried at once, bounded per daemon. ipmitool's messages
 * (with -v) are parsed into typed errors: wrong password, unknown user, no answer.
 *
 * Status reads go through FreeIPMI's ipmipower when it is installed (`backend = auto`). Some
 * BMCs, OpenIPMI's simulator among them, refuse FreeIPMI's privilege request although the user
 * has the privilege: `auto` then asks once more with `-W opensesspriv`, and failing that reads
 * that BMC through ipmitool; the choice is kept per device, logged once and shown in its details.
 */
import type { Infer } from '../../src/config/types.js';
import type { OckleError} from '../../src/errors.js';
import { asControlError, DeviceRefusedError, DeviceReplyError, DeviceUnreachableError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import { existsSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { lastLine, run } from '../host/process.js';
import { defineDriver, type Controller, type DeviceInfo, type DriverContext, type OutletDevice, type Power, type SwitchAction } from '../types.js';
import { ipmiSketch, ipmiSoftSketch, ipmiTemplate, maxPasswordBytes, passwordHint } from './definition.js';

export { ipmiTemplate };

type Spec = Infer<typeof ipmiTemplate>;

/** What to try when the BMC does not offer the configured cipher suite. */
function cipherHint(cs: number): string {
  return cs === 3
    ? 'Set cipher_suite = 17 (SHA-256, current BMCs), or another suite the BMC offers.'
    : `Set cipher_suite = 3 (SHA-1; older BMCs and OpenIPMI's simulator offer no ${cs}${cs === 17 ? ', the default' : ''}).`;
}

/** At most this many ipmitool processes at once per daemon (a rack of BMCs polled together). */
const MAX_PARALLEL = 8;

class Limiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= MAX_PARALLEL) await new Promise<void>((r) => this.#waiting.push(r));
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}

/** One ipmitool call against one BMC. */
export class Ipmitool {
  readonly #s: Spec;
  readonly #host: string;
  readonly #limit: Limiter;

  constructor(
    readonly id: string,
    spec: Spec,
    host: string,
    ctx: DriverContext,
  ) {
    this.#s = spec;
    this.#host = host;
    this.#limit = ctx.shared('ipmitool-limiter', () => new Limiter());
  }

  get where(): string {
    return `${this.#s.user}@${this.#host}:${this.#s.port}`;
  }

  async call(args: readonly string[], signal: AbortSignal, verbose = false): Promise<string> {
    const s = this.#s;
    const argv = [
      'ipmitool',
      // -v makes ipmitool load its IANA registry on every call (~tens of ms of CPU): only to diagnose.
      ...(verbose ? ['-v'] : []),
      '-I', s.interface,
      '-H', this.#host,
      '-p', String(s.port),
      '-U', s.user,
      '-E',
      ...(s.interface === 'lanplus' ? ['-C', String(s.cipher_suite)] : []),
      '-L', s.privilege,
      '-N', String(s.request_timeout),
      '-R', String(s.request_retries),
      ...args,
    ];
    // ipmitool does not always honour -N/-R against a dead BMC (session setup retries on its
    // own): bound the whole call, a killed call reads as no answer.
    const budget = (s.request_timeout * (s.request_retries + 1) + 2) * 1000;
    const r = await this.#limit.run(() => run(argv, { timeoutMs: budget, signal, env: { ...process.env, IPMI_PASSWORD: s.password.reveal() } }));
    if (signal.aborted) throw new OperationAbortedError();
    if (r.spawnError)
      throw new DeviceUnreachableError(this.id, `${this.id}: cannot run ipmitool: ${r.spawnError.code}`, { hint: 'Install it: apt-get install ipmitool.' });
    if (r.code === 0) return r.stdout;
    const out = r.stderr + r.stdout;
    // The session could not be set up, so nothing reached the chassis: a verbose status query
    // says why (wrong password, unknown user, no answer) without changing anything.
    if (!verbose && s.diagnose && !r.timedOut && /Unable to establish/i.test(out)) {
      const diag = await this.call(['chassis', 'power', 'status'], signal, true).then(
        () => null,
        (e: unknown) => e as OckleError,
      );
      if (diag) throw diag.code === 'OCKLE_DEVICE_REPLY' ? this.#error(out, false, args.join(' ')) : Object.assign(diag, { message: diag.message.replace('chassis power status', args.join(' ')) });
    }
    throw this.#error(out, r.timedOut, args.join(' '));
  }

  #error(out: string, timedOut: boolean, what: string): OckleError {
    const at = `${this.id}: ${what} (${this.where})`;
    if (/RAKP 2 HMAC is invalid|password is invalid|Authentication type .* not supported|wrong password/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: the BMC rejected the password`, { hint: 'Check password in the device file (the BMC may lock the user after several failures).' });
    if (/unauthorized name|Invalid user name|unknown user/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: the BMC does not know user "${this.#s.user}"`, { hint: 'Check user; it must be enabled for IPMI over LAN on the BMC.' });
    if (/password is longer than|password value too long/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: the password is longer than IPMI allows (${maxPasswordBytes(this.#s)} bytes)`, { hint: passwordHint(this.#s) });
    // The command itself refused (the session was up): the user's privilege is too low for it.
    if (/Insufficient privilege/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: privilege ${this.#s.privilege} not granted`, { hint: 'Give the user OPERATOR or ADMINISTRATOR on the BMC (power control needs OPERATOR or more).' });
    // The session could not get the privilege: more than the user may have, or a BMC quirk.
    if (/privilege level/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: privilege ${this.#s.privilege} not granted`, {
        hint: `Give the user ${this.#s.privilege} on the BMC, or set privilege = OPERATOR (enough for power control) if that is all it has.`,
      });
    // "invalid authentication algorithm" (RMCP+ status 4, and 5, 6 for the other algorithms):
    // the BMC has no such cipher suite; ipmi_sim answers this to the default 17.
    if (/no matching cipher suite|cipher suite|invalid (authentication|integrity|confidentiality) algorithm/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: cipher suite ${this.#s.cipher_suite} not offered by the BMC`, { hint: cipherHint(this.#s.cipher_suite) });
    if (timedOut || /Get Auth Capabilities error|Unable to establish|No response|timeout/i.test(out))
      return new DeviceUnreachableError(this.id, `${at}: no answer from the BMC`, {
        hint: 'Check host and port, that IPMI over LAN is enabled on the BMC (often off by default), and the management network.',
      });
    const line = out.trim().split('\n').filter((l) => !/^Loading IANA/.test(l)).at(-1) ?? '';
    return new DeviceReplyError(this.id, `${at}: ${line || 'ipmitool failed'}`, { hint: 'The BMC may not support this command; see its documentation.' });
  }
}

/** Whether a program is on the PATH (checked once per name). */
const onPath = new Map<string, boolean>();
function installed(name: string): boolean {
  let v = onPath.get(name);
  if (v === undefined) {
    v = (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, name)));
    onPath.set(name, v);
  }
  return v;
}

interface StatusWanted {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly spec: Spec;
  readonly signal: AbortSignal;
  resolve(p: Power): void;
  reject(e: Error): void;
}

/**
 * Status reads of many BMCs in one `ipmipower --stat` per set of credentials: requests made in
 * the same turn of the event loop are grouped; the password goes in a 0600 config file, never
 * on the command line. ipmipower labels its answers by host, so a call never holds two BMCs
 * on one host (different ports); those go in separate calls.
 */
export class IpmipowerBatch {
  #pending: StatusWanted[] = [];
  #scheduled = false;
  readonly #dir: string;

  constructor(stateDir: string) {
    // Before 0.1 the configuration (with the BMC password) went through 0600 files here, left
    // behind by a daemon that was killed: remove any such leftovers.
    this.#dir = join(stateDir, 'ipmipower');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  status(w: Omit<StatusWanted, 'resolve' | 'reject'>): Promise<Power> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ ...w, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const all = this.#pending.splice(0);
    const groups = new Map<string, StatusWanted[][]>();
    for (const w of all) {
      const s = w.spec;
      const key = JSON.stringify([s.user, s.password.reveal(), s.cipher_suite, s.privilege, s.workarounds, s.request_timeout, s.request_retries]);
      const calls = groups.get(key) ?? [];
      let call = calls.find((c) => !c.some((x) => x.host === w.host));
      if (!call) calls.push((call = []));
      call.push(w);
      groups.set(key, calls);
    }
    await Promise.all([...groups.values()].flat().map((call) => this.#run(call)));
  }

  async #run(call: StatusWanted[]): Promise<void> {
    const s = call[0]!.spec;
    const priv = { ADMINISTRATOR: 'ADMIN', OPERATOR: 'OPERATOR', USER: 'USER' }[s.privilege];
    // The configuration, password included, goes through a pipe that ipmipower reads as its
    // configuration file: never on argv, and never on disk (a file outlived a daemon killed with
    // SIGKILL). ipmipower opens the file by name, and Node's stdio is a socket, which cannot be
    // opened as /dev/stdin: `cat` turns it into a real pipe (sh is only the plumbing; the
    // secret is not in its command line).
    const conf = [`username ${s.user}`, `password ${s.password.reveal()}`, 'driver-type LAN_2_0', `cipher-suite-id ${s.cipher_suite}`, `privilege-level ${priv}`, ...(s.workarounds ? [`workaround-flags ${s.workarounds}`] : []), ''].join('\n');
    const hosts = call.map((w) => (w.port === 623 ? w.host : `${w.host}:${w.port}`)).join(',');
    const timeoutMs = s.request_timeout * 1000 * (s.request_retries + 1);
    const ac = new AbortController();
    for (const w of call) w.signal.addEventListener('abort', () => call.every((x) => x.signal.aborted) && ac.abort(), { once: true });
    {
      const argv = ['ipmipower', '--config-file', '/dev/stdin', '-h', hosts, '--stat', '--session-timeout', String(timeoutMs), '--retransmission-timeout', String(Math.max(100, Math.floor(timeoutMs / 3)))];
      const r = await run(['sh', '-c', 'cat | exec "$0" "$@"', ...argv], {
        timeoutMs: timeoutMs + 5000,
        signal: ac.signal,
        stdin: conf,
        group: true,
      });
      const answers = new Map<string, string>();
      for (const line of r.stdout.split('\n')) {
        const m = /^([^:\s]+): (.+)$/.exec(line.trim());
        if (m) answers.set(m[1]!, m[2]!.trim());
      }
      for (const w of call) {
        const a = answers.get(w.host);
        if (a === 'on' || a === 'off') w.resolve(a);
        else w.reject(ipmipowerError(w, a ?? (r.spawnError ? `cannot run ipmipower: ${r.spawnError.code}` : r.code === 127 ? 'cannot run ipmipower: not installed (apt-get install freeipmi-tools)' : r.timedOut ? 'connection timeout' : lastLine(r.stderr) || 'no answer')));
      }
    }
  }
}

/** Whether a workarounds list already holds opensesspriv (sun20 includes it). */
const hasOpensesspriv = (workarounds: string): boolean => workarounds.split(',').some((w) => ['opensesspriv', 'sun20'].includes(w.trim().toLowerCase()));

/**
 * Errors where ipmipower could not obtain the session privilege ("privilege level cannot be
 * obtained for this user"): the session was never set up, so nothing reached the chassis. Kept
 * aside (not a property, which would show in the API) for backend = auto to try another path.
 */
const privilegeRefusals = new WeakSet<Error>();

function ipmipowerError(w: StatusWanted, answer: string): OckleError {
  const s = w.spec;
  const at = `${w.id}: chassis power status (${s.user}@${w.host}:${w.port}, ipmipower${s.workarounds ? ` -W ${s.workarounds}` : ''})`;
  if (/password invalid|k_g invalid/.test(answer)) return new DeviceRefusedError(w.id, `${at}: the BMC rejected the password`, { hint: 'Check password in the device file.' });
  if (/username invalid/.test(answer)) return new DeviceRefusedError(w.id, `${at}: the BMC does not know user "${s.user}"`, { hint: 'Check user.' });
  if (/password value too long/.test(answer))
    return new DeviceRefusedError(w.id, `${at}: the password is longer than IPMI allows (${maxPasswordBytes(s)} bytes)`, { hint: passwordHint(s) });
  if (/privilege level cannot be obtained/.test(answer)) {
    // Not "lower privilege": BMCs like OpenIPMI's answer this to FreeIPMI's way of asking for a
    // privilege the user does have; ipmitool, or ipmipower -W opensesspriv, gets it.
    const e = new DeviceRefusedError(w.id, `${at}: ${answer} (${s.privilege})`, {
      hint: hasOpensesspriv(s.workarounds)
        ? `ipmipower was refused ${s.privilege} even with workarounds = ${s.workarounds}: set backend = ipmitool (apt-get install ipmitool), or give the user ${s.privilege} on the BMC.`
        : `Some BMCs (OpenIPMI's among them) refuse FreeIPMI's privilege request although the user has ${s.privilege}: set workarounds = opensesspriv, or backend = ipmitool. Otherwise give the user ${s.privilege} on the BMC.`,
    });
    privilegeRefusals.add(e);
    return e;
  }
  if (/privilege/.test(answer)) return new DeviceRefusedError(w.id, `${at}: ${answer}`, { hint: `Give the user ${s.privilege} on the BMC (power control needs OPERATOR or more).` });
  if (/cipher suite/.test(answer)) return new DeviceRefusedError(w.id, `${at}: cipher suite ${s.cipher_suite} not offered by the BMC`, { hint: cipherHint(s.cipher_suite) });
  // FreeIPMI says "BMC error" for an RMCP+ status code at session setup; by far the most common
  // is a cipher suite the BMC lacks (ipmi_sim answers it to the default 17).
  if (/BMC error/.test(answer))
    return new DeviceRefusedError(w.id, `${at}: the BMC refused the session (${answer}), most likely cipher suite ${s.cipher_suite}`, {
      hint: `${cipherHint(s.cipher_suite)} If that is not it, try backend = ipmitool, whose errors name the reason.`,
    });
  if (/timeout|connection/.test(answer))
    return new DeviceUnreachableError(w.id, `${at}: no answer from the BMC`, { hint: 'Check host and port, and that IPMI over LAN is enabled on the BMC.' });
  return new DeviceReplyError(w.id, `${at}: ${answer}`, { hint: 'Try backend = ipmitool for this BMC, or set workarounds (FreeIPMI -W).' });
}

/**
 * How status reads reach one BMC. With backend = auto this moves forward, never back: ipmipower
 * as configured, then with opensesspriv added, then ipmitool. `why` says why it moved.
 */
type ReadPath = { readonly via: 'ipmipower'; readonly workarounds: string; readonly why?: string } | { readonly via: 'ipmitool'; readonly why?: string };

export class IpmiChassis implements OutletDevice {
  readonly caps = { cycle: true, reset: true, metering: false, bulkRead: false, readBack: 'real' as const, maxConcurrency: 1 };
  readonly outletCount = 1;
  readonly #tool: Ipmitool;
  readonly #spec: Spec;
  readonly #ctx: DriverContext;
  readonly #batch: IpmipowerBatch | null;
  #path: ReadPath;
  /** The automatic choice of path has been logged (once per device). */
  #logged = false;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#spec = spec;
    this.#ctx = ctx;
    this.#tool = new Ipmitool(id, spec, spec.host, ctx);
    const batch = spec.backend === 'ipmipower' || (spec.backend === 'auto' && installed('ipmipower'));
    this.#batch = batch ? ctx.shared('ipmipower-batch', () => new IpmipowerBatch(ctx.stateDir)) : null;
    this.#path = batch ? { via: 'ipmipower', workarounds: spec.workarounds } : { via: 'ipmitool' };
  }

  /**
   * backend = auto only: where reads go after `from` was refused the session privilege, or null
   * when nothing is left to try (then the refusal is the answer, its hint naming the fixes).
   */
  #after(from: ReadPath): ReadPath | null {
    if (this.#spec.backend !== 'auto' || from.via !== 'ipmipower') return null;
    const priv = this.#spec.privilege;
    if (!hasOpensesspriv(from.workarounds))
      return { via: 'ipmipower', workarounds: [from.workarounds, 'opensesspriv'].filter(Boolean).join(','), why: `the BMC refused privilege ${priv} to ipmipower without it` };
    if (!installed('ipmitool')) return null;
    return { via: 'ipmitool', why: `the BMC refused privilege ${priv} to ipmipower, also with -W ${from.workarounds}` };
  }

  #check(outlets: readonly number[]): void {
    for (const n of outlets) if (n !== 1) throw new UnknownOutletError(this.id, n, 1);
  }

  async open(signal: AbortSignal): Promise<void> {
    await this.read([1], signal);
  }

  async read(outlets: readonly number[], signal: AbortSignal): Promise<ReadonlyMap<number, Power>> {
    this.#check(outlets);
    if (outlets.length === 0) return new Map();
    return new Map([[1, await this.#status(signal)]]);
  }

  /**
   * Chassis power status through the current read path. A status query changes nothing, so
   * trying the next path after a refusal is always safe; the path then stays for later polls.
   */
  async #status(signal: AbortSignal): Promise<Power> {
    const p = this.#path;
    let power: Power;
    if (p.via === 'ipmitool' || !this.#batch) {
      const out = await this.#tool.call(['chassis', 'power', 'status'], signal);
      const m = /Chassis Power is (on|off)/i.exec(out);
      if (!m) throw new DeviceReplyError(this.id, `${this.id}: unexpected answer to power status: ${out.trim().slice(0, 120)}`);
      power = m[1]!.toLowerCase() as Power;
    } else {
      const spec = p.workarounds === this.#spec.workarounds ? this.#spec : { ...this.#spec, workarounds: p.workarounds };
      try {
        power = await this.#batch.status({ id: this.id, host: this.#spec.host, port: this.#spec.port, spec, signal });
      } catch (err) {
        if (!privilegeRefusals.has(err as Error) || signal.aborted) throw err;
        // A concurrent read may have moved on already: then just use its choice.
        if (this.#path === p) {
          const next = this.#after(p);
          if (!next) throw err;
          this.#path = next;
        }
        return this.#status(signal);
      }
    }
    if (p.why && !this.#logged) {
      this.#logged = true;
      this.#ctx.log.warn(
        { device: this.id, status: this.#describe(p) },
        `the BMC refuses ipmipower the session privilege: its status is read through ${p.via === 'ipmitool' ? 'ipmitool' : `ipmipower -W ${p.workarounds}`} from now on (set ${p.via === 'ipmitool' ? 'backend = ipmitool' : `workarounds = ${p.workarounds}`} in the device file to skip the tries)`,
      );
    }
    return power;
  }

  /**
   * Switching has one path, ipmitool, whatever the read path. It is never re-sent here: a
   * switch that failed is reported, and the core reads back before deciding anything.
   * (A switch refused at session setup, privilege or authentication, sent nothing to the chassis,
   * so retrying it through another path would be safe; no other failure ever is, since the
   * command may have reached the BMC. ipmitool's own -v diagnosis after a failed session is a
   * status query, never the switch again.)
   */
  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    this.#check([outlet]);
    await this.#tool.call(['chassis', 'power', action], signal);
  }

  #describe(p: ReadPath): string {
    const tool = p.via === 'ipmipower' ? `ipmipower${p.workarounds ? ` -W ${p.workarounds}` : ''}` : 'ipmitool';
    return p.why ? `${tool} (chosen automatically: ${p.why})` : tool;
  }

  info(): DeviceInfo {
    return { model: 'IPMI BMC (chassis power)', details: { bmc: this.#tool.where, status: this.#describe(this.#path), switching: 'ipmitool' } };
  }

  async close(): Promise<void> {}
}

/** `ipmi-soft`: asks the OS to shut down through the BMC (ACPI soft-off, `chassis power soft`). */
export class IpmiSoftControl implements Controller {
  readonly #tool: Ipmitool;
  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    // The BMC's own address: never the server's host, which is the OS, not its BMC.
    this.#tool = new Ipmitool(id, spec, spec.host, ctx);
  }
  async shutdown(signal: AbortSignal): Promise<void> {
    try {
      await this.#tool.call(['chassis', 'power', 'soft'], signal);
    } catch (err) {
      throw asControlError(err);
    }
  }
}

export const ipmiDriver = defineDriver({
  ...ipmiSketch,
  create: (spec, ctx) => new IpmiChassis(ctx.id, spec, ctx),
});

export const ipmiSoftDriver = defineDriver({
  ...ipmiSoftSketch,
  create: (spec, ctx) => new IpmiSoftControl(ctx.id, spec, ctx),
});
