/**
 * `ipmi` outlet device (one BMC = one outlet: the chassis) and `ipmi-soft` control, through
 * Debian's `ipmitool` over `lanplus` (IPMI 2.0 / RMCP+). ipmitool is spawned without a shell;
 * the password goes through the environment (`-E` reads IPMI_PASSWORD), never argv, so it is
 * not visible in `ps`. Many BMCs are queried at once, bounded per daemon. ipmitool's messages
 * (with -v) are parsed into typed errors: wrong password, unknown user, no answer.
 */
import { bool, int, secret, select, str, type Infer } from '../../src/config/types.js';
import type { OckleError} from '../../src/errors.js';
import { asControlError, DeviceRefusedError, DeviceReplyError, DeviceUnreachableError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { lastLine, run } from '../host/process.js';
import { defineDriver, type Controller, type DeviceInfo, type DriverContext, type OutletDevice, type Power, type SwitchAction } from '../types.js';

export const ipmiTemplate = {
  host: str({ required: true, help: 'Address of the BMC (its own management address, not the server’s).' }),
  port: int({ min: 1, max: 65535, default: 623, help: 'RMCP port of the BMC.' }),
  user: str({ required: true, help: 'BMC user.' }),
  password: secret({ required: true, help: 'BMC password; handed to ipmitool through its environment, never on its command line. Never logged.' }),
  interface: select({ choices: ['lanplus', 'lan'], default: 'lanplus', help: 'lanplus (IPMI 2.0, RMCP+); lan only for IPMI 1.5 BMCs.' }),
  cipher_suite: int({ min: 0, max: 17, default: 17, help: 'RMCP+ cipher suite: 17 (SHA-256/AES) on current BMCs, 3 on older ones. Naming it avoids a slow negotiation.' }),
  privilege: select({ choices: ['ADMINISTRATOR', 'OPERATOR', 'USER'], default: 'ADMINISTRATOR', help: 'Session privilege (power control needs OPERATOR or more).' }),
  request_timeout: int({ min: 1, max: 60, default: 2, help: 'Seconds ipmitool waits for each answer (-N).' }),
  request_retries: int({ min: 0, max: 10, default: 1, help: 'Times ipmitool resends a request (-R).' }),
  backend: select({
    choices: ['auto', 'ipmitool', 'ipmipower'],
    default: 'auto',
    help: 'Status reads: ipmipower (FreeIPMI) asks every BMC with the same credentials in one process; auto uses it when installed. Switching always uses ipmitool.',
  }),
  workarounds: str({ default: '', help: 'FreeIPMI workaround flags for ipmipower (-W), e.g. opensesspriv for some BMCs.' }),
  diagnose: bool({ default: true, help: 'When a session cannot be set up, ask once more with -v (a status query, which changes nothing) to tell a wrong password from a BMC that does not answer.' }),
};
type Spec = Infer<typeof ipmiTemplate>;

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
    if (/Insufficient privilege|privilege level/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: privilege ${this.#s.privilege} not granted`, { hint: 'Give the user OPERATOR or ADMINISTRATOR on the BMC, or lower privilege =.' });
    if (/no matching cipher suite|cipher suite/i.test(out))
      return new DeviceRefusedError(this.id, `${at}: cipher suite ${this.#s.cipher_suite} not offered by the BMC`, { hint: 'Try cipher_suite = 3 (older BMCs) or 17 (current ones).' });
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
    this.#dir = join(stateDir, 'ipmipower');
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
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const file = join(this.#dir, `${process.pid}-${Math.random().toString(36).slice(2)}.conf`);
    const priv = { ADMINISTRATOR: 'ADMIN', OPERATOR: 'OPERATOR', USER: 'USER' }[s.privilege];
    writeFileSync(
      file,
      [`username ${s.user}`, `password ${s.password.reveal()}`, 'driver-type LAN_2_0', `cipher-suite-id ${s.cipher_suite}`, `privilege-level ${priv}`, ...(s.workarounds ? [`workaround-flags ${s.workarounds}`] : []), ''].join('\n'),
      { mode: 0o600 },
    );
    const hosts = call.map((w) => (w.port === 623 ? w.host : `${w.host}:${w.port}`)).join(',');
    const timeoutMs = s.request_timeout * 1000 * (s.request_retries + 1);
    const ac = new AbortController();
    for (const w of call) w.signal.addEventListener('abort', () => call.every((x) => x.signal.aborted) && ac.abort(), { once: true });
    try {
      const r = await run(['ipmipower', '--config-file', file, '-h', hosts, '--stat', '--session-timeout', String(timeoutMs), '--retransmission-timeout', String(Math.max(100, Math.floor(timeoutMs / 3)))], {
        timeoutMs: timeoutMs + 5000,
        signal: ac.signal,
      });
      const answers = new Map<string, string>();
      for (const line of r.stdout.split('\n')) {
        const m = /^([^:\s]+): (.+)$/.exec(line.trim());
        if (m) answers.set(m[1]!, m[2]!.trim());
      }
      for (const w of call) {
        const a = answers.get(w.host);
        if (a === 'on' || a === 'off') w.resolve(a);
        else w.reject(ipmipowerError(w, a ?? (r.spawnError ? `cannot run ipmipower: ${r.spawnError.code}` : r.timedOut ? 'connection timeout' : lastLine(r.stderr) || 'no answer')));
      }
    } finally {
      rmSync(file, { force: true });
    }
  }
}

function ipmipowerError(w: StatusWanted, answer: string): OckleError {
  const at = `${w.id}: chassis power status (${w.spec.user}@${w.host}:${w.port}, ipmipower)`;
  if (/password invalid|k_g invalid/.test(answer)) return new DeviceRefusedError(w.id, `${at}: the BMC rejected the password`, { hint: 'Check password in the device file.' });
  if (/username invalid/.test(answer)) return new DeviceRefusedError(w.id, `${at}: the BMC does not know user "${w.spec.user}"`, { hint: 'Check user.' });
  if (/privilege/.test(answer)) return new DeviceRefusedError(w.id, `${at}: ${answer}`, { hint: 'Give the user OPERATOR or ADMINISTRATOR, or lower privilege =.' });
  if (/timeout|connection/.test(answer))
    return new DeviceUnreachableError(w.id, `${at}: no answer from the BMC`, { hint: 'Check host and port, and that IPMI over LAN is enabled on the BMC.' });
  return new DeviceReplyError(w.id, `${at}: ${answer}`, { hint: 'Try backend = ipmitool for this BMC, or set workarounds (FreeIPMI -W).' });
}

export class IpmiChassis implements OutletDevice {
  readonly caps = { cycle: true, reset: true, metering: false, bulkRead: false, readBack: 'real' as const, maxConcurrency: 1 };
  readonly outletCount = 1;
  readonly #tool: Ipmitool;
  readonly #spec: Spec;
  readonly #batch: IpmipowerBatch | null;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    this.#spec = spec;
    this.#tool = new Ipmitool(id, spec, spec.host, ctx);
    const batch = spec.backend === 'ipmipower' || (spec.backend === 'auto' && installed('ipmipower'));
    this.#batch = batch ? ctx.shared('ipmipower-batch', () => new IpmipowerBatch(ctx.stateDir)) : null;
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
    if (this.#batch) return new Map([[1, await this.#batch.status({ id: this.id, host: this.#spec.host, port: this.#spec.port, spec: this.#spec, signal })]]);
    const out = await this.#tool.call(['chassis', 'power', 'status'], signal);
    const m = /Chassis Power is (on|off)/i.exec(out);
    if (!m) throw new DeviceReplyError(this.id, `${this.id}: unexpected answer to power status: ${out.trim().slice(0, 120)}`);
    return new Map([[1, m[1]!.toLowerCase() as Power]]);
  }

  async switch(outlet: number, action: SwitchAction, signal: AbortSignal): Promise<void> {
    this.#check([outlet]);
    await this.#tool.call(['chassis', 'power', action], signal);
  }

  info(): DeviceInfo {
    return { model: 'IPMI BMC (chassis power)', details: { bmc: this.#tool.where } };
  }

  async close(): Promise<void> {}
}

/** `ipmi-soft`: asks the OS to shut down through the BMC (ACPI soft-off, `chassis power soft`). */
export class IpmiSoftControl implements Controller {
  readonly caps = { reboot: false };
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
  kind: 'outlet',
  type: 'ipmi',
  description: 'A server’s BMC over IPMI (ipmitool lanplus): one outlet, the chassis power; native cycle.',
  template: ipmiTemplate,
  outletCount: () => 1,
  create: (spec, ctx) => new IpmiChassis(ctx.id, spec, ctx),
});

export const ipmiSoftDriver = defineDriver({
  kind: 'controller',
  type: 'ipmi-soft',
  description: 'Asks the OS to shut down through the BMC (IPMI chassis soft-off, ACPI).',
  template: ipmiTemplate,
  create: (spec, ctx) => new IpmiSoftControl(ctx.id, spec, ctx),
});
