/**
 * `ipmi` outlet device (one BMC = one outlet: the chassis) and `ipmi-soft` control, through
 * Debian's `ipmitool` over `lanplus` (IPMI 2.0 / RMCP+). ipmitool is spawned without a shell;
 * the password goes through the environment (`-E` reads IPMI_PASSWORD), never argv, so it is
 * not visible in `ps`. Many BMCs are queried at once, bounded per daemon. ipmitool's messages
 * (with -v) are parsed into typed errors: wrong password, unknown user, no answer.
 */
import { bool, int, secret, select, str, type Infer } from '../../src/config/types.js';
import { ControlError, DeviceRefusedError, DeviceReplyError, DeviceUnreachableError, OckleError, OperationAbortedError, UnknownOutletError } from '../../src/errors.js';
import { run } from '../host/process.js';
import { hostOf } from '../host/testers.js';
import { defineDriver, type Controller, type DeviceInfo, type DriverContext, type OutletDevice, type Power, type SwitchAction } from '../types.js';

export const ipmiTemplate = {
  host: str({ help: 'BMC address (outlet device: required; ipmi-soft control: default the server’s bmc… set it).' }),
  port: int({ min: 1, max: 65535, default: 623, help: 'RMCP port of the BMC.' }),
  user: str({ required: true, help: 'BMC user.' }),
  password: secret({ required: true, help: 'BMC password; handed to ipmitool through its environment, never on its command line. Never logged.' }),
  interface: select({ choices: ['lanplus', 'lan'], default: 'lanplus', help: 'lanplus (IPMI 2.0, RMCP+); lan only for IPMI 1.5 BMCs.' }),
  cipher_suite: int({ min: 0, max: 17, default: 17, help: 'RMCP+ cipher suite: 17 (SHA-256/AES) on current BMCs, 3 on older ones. Naming it avoids a slow negotiation.' }),
  privilege: select({ choices: ['ADMINISTRATOR', 'OPERATOR', 'USER'], default: 'ADMINISTRATOR', help: 'Session privilege (power control needs OPERATOR or more).' }),
  request_timeout: int({ min: 1, max: 60, default: 2, help: 'Seconds ipmitool waits for each answer (-N).' }),
  request_retries: int({ min: 0, max: 10, default: 1, help: 'Times ipmitool resends a request (-R).' }),
  verbose_errors: bool({ default: true, help: 'Run ipmitool with -v so failures can be told apart (wrong password vs no answer).' }),
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

  async call(args: readonly string[], signal: AbortSignal): Promise<string> {
    const s = this.#s;
    const argv = [
      'ipmitool',
      ...(s.verbose_errors ? ['-v'] : []),
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
    throw this.#error(r.stderr + r.stdout, r.timedOut, args.join(' '));
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

export class IpmiChassis implements OutletDevice {
  readonly caps = { cycle: true, metering: false, bulkRead: false, readBack: 'real' as const, maxConcurrency: 1 };
  readonly outletCount = 1;
  readonly #tool: Ipmitool;

  constructor(
    readonly id: string,
    spec: Spec,
    ctx: DriverContext,
  ) {
    if (!spec.host) throw new OckleError('OCKLE_CONFIG_INVALID', `${id}: an ipmi device needs host =`, { hint: 'Add host = the BMC’s address.' });
    this.#tool = new Ipmitool(id, spec, spec.host, ctx);
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
    this.#tool = new Ipmitool(id, spec, hostOf(spec.host, ctx, 'the ipmi-soft control (the BMC address)'), ctx);
  }
  async shutdown(signal: AbortSignal): Promise<void> {
    try {
      await this.#tool.call(['chassis', 'power', 'soft'], signal);
    } catch (err) {
      if (err instanceof OperationAbortedError) throw err;
      const e = err as OckleError;
      throw new ControlError(e.message, { ...(e.hint && { hint: e.hint }) });
    }
  }
}

export const ipmiDriver = defineDriver({
  kind: 'outlet',
  type: 'ipmi',
  description: 'A server’s BMC over IPMI (ipmitool lanplus): one outlet, the chassis power; native cycle.',
  template: ipmiTemplate,
  outletCount: () => 1,
  check: (spec) => (spec.host ? [] : [{ key: 'user', message: 'an ipmi device needs host', hint: 'Add host = the BMC’s address.' }]),
  create: (spec, ctx) => new IpmiChassis(ctx.id, spec, ctx),
});

export const ipmiSoftDriver = defineDriver({
  kind: 'controller',
  type: 'ipmi-soft',
  description: 'Asks the OS to shut down through the BMC (IPMI chassis soft-off, ACPI).',
  template: ipmiTemplate,
  create: (spec, ctx) => new IpmiSoftControl(ctx.id, spec, ctx),
});
