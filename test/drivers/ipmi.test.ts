/**
 * The ipmi outlet device and ipmi-soft control against OpenIPMI's ipmi_sim, driven by Debian's
 * ipmitool: status, on, off, cycle, soft-off; a wrong password, an unknown user, a BMC that is
 * gone; the password never on a command line. backend = auto against a BMC that refuses
 * FreeIPMI's privilege request (ipmi_sim does): once more with opensesspriv, else ipmitool, the
 * choice kept and shown; the hints for that and for a cipher suite the BMC lacks.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipmiDriver, ipmiSoftDriver } from '../../drivers/ipmi/index.js';
import { defaultRegistry } from '../../drivers/registry.js';
import type { SpecOf } from '../../drivers/types.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { checkConfig } from '../../src/config/load.js';
import { Secret } from '../../src/config/types.js';
import { formatProblem } from '../../src/errors.js';
import { REPO } from '../support/demo.js';
import { makeDriverContext } from '../support/driver-context.js';
import { startBmc, type SimBmc } from '../support/ipmi-sim.js';
import { describePeer, which } from '../support/peers.js';
import { describeOutletDevice } from './outlet-contract.js';

type Spec = SpecOf<typeof ipmiDriver>;
const sig = (): AbortSignal => new AbortController().signal;
const spec = (bmc: SimBmc, over: Partial<Record<keyof Spec, unknown>> = {}): Spec =>
  ({
    host: '127.0.0.1',
    port: bmc.port,
    user: bmc.user,
    password: new Secret(bmc.password),
    interface: 'lanplus',
    cipher_suite: 3,
    privilege: 'ADMINISTRATOR',
    request_timeout: 1,
    request_retries: 0,
    backend: 'ipmitool',
    workarounds: '',
    diagnose: true,
    ...over,
  }) as Spec;

describePeer('ipmi against ipmi_sim', ['ipmi_sim', 'ipmitool'], () => {
  let bmc: SimBmc;
  beforeAll(async () => {
    bmc = await startBmc();
  }, 20_000);
  afterAll(async () => {
    await bmc?.stop();
  });
  const device = (over: Partial<Record<keyof Spec, unknown>> = {}) => ipmiDriver.create(spec(bmc, over), makeDriverContext({ id: 'bmc-db-1' }));

  it('reads the chassis power and switches it on and off', async () => {
    bmc.setPower(false);
    const d = device();
    await d.open(sig());
    expect((await d.read([1], sig())).get(1)).toBe('off');
    await d.switch(1, 'on', sig());
    expect(bmc.power()).toBe('1');
    expect((await d.read([1], sig())).get(1)).toBe('on');
    await d.switch(1, 'off', sig());
    expect(bmc.power()).toBe('0');
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual(['set power 1', 'set power 0']);
  });

  it('cycles natively', async () => {
    bmc.setPower(true);
    const d = device();
    expect(d.caps.cycle).toBe(true);
    const before = bmc.calls().length;
    await d.switch(1, 'cycle', sig());
    expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))[0]).toBe('set power 0');
  });

  it('warm-resets the machine (chassis power reset), power staying on', async () => {
    bmc.setPower(true);
    const d = device();
    expect(d.caps.reset).toBe(true);
    const before = bmc.calls().length;
    await d.switch(1, 'reset', sig());
    expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))).toEqual(['set reset 1']);
    expect(bmc.power()).toBe('1');
  });

  it('ipmi-soft asks the OS to shut down through the BMC (ACPI soft-off)', async () => {
    bmc.setPower(true);
    const c = ipmiSoftDriver.create(spec(bmc), makeDriverContext({ id: 'db-1/soft', server: { name: 'db-1', host: undefined, outlets: [] } }));
    const before = bmc.calls().length;
    await c.shutdown(sig());
    expect(bmc.calls().slice(before)).toContain('set shutdown 1');
  });

  it('tells a wrong password from an unknown user from a BMC that does not answer', async () => {
    await expect(device({ password: new Secret('not-the-password') }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/rejected the password/) });
    await expect(device({ user: 'mallory' }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/does not know user "mallory"/) });
    const gone = await startBmc();
    const port = gone.port;
    await gone.stop();
    await expect(device({ port }).read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_UNREACHABLE', hint: expect.stringMatching(/IPMI over LAN is enabled/) });
  });

  it('never puts the password on a command line, nor in an error', async () => {
    const err = (await device({ password: new Secret('s3cret-bmc-pass') }).read([1], sig()).catch((e: unknown) => e)) as Error;
    expect(JSON.stringify(err) + err.message + String((err as { hint?: string }).hint)).not.toContain('s3cret-bmc-pass');
  });
});

describePeer('ipmi status through ipmipower (batch backend)', ['ipmi_sim', 'ipmipower'], () => {
  it('reads several BMCs with one ipmipower call; a wrong password fails only its own BMC', async () => {
    const bmcs = [await startBmc({ on: true, host: '127.0.0.2', password: 'fleet-pass' }), await startBmc({ on: false, host: '127.0.0.3', password: 'fleet-pass' })];
    const other = await startBmc({ on: true, host: '127.0.0.4', password: 'its-own-pass' });
    try {
      const shared = new Map<string, unknown>();
      const mk = (b: SimBmc, over: Partial<Record<keyof Spec, unknown>> = {}) =>
        ipmiDriver.create(spec(b, { host: b.host, backend: 'ipmipower', workarounds: 'opensesspriv', ...over }), makeDriverContext({ id: `bmc-${b.host}`, shared }));
      const [a, b] = bmcs.map((x) => mk(x));
      const wrong = mk(other, { password: new Secret('fleet-pass') });
      const results = await Promise.allSettled([a!.read([1], sig()), b!.read([1], sig()), wrong.read([1], sig())]);
      expect(results[0]).toMatchObject({ status: 'fulfilled', value: new Map([[1, 'on']]) });
      expect(results[1]).toMatchObject({ status: 'fulfilled', value: new Map([[1, 'off']]) });
      expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/rejected the password/) } });
      // Switching still goes through ipmitool, one BMC at a time.
      await b!.switch(1, 'on', sig());
      expect(bmcs[1]!.power()).toBe('1');
    } finally {
      for (const x of [...bmcs, other]) await x.stop();
    }
  });
});

/**
 * A stand-in `ipmipower` first on the PATH: records each call's arguments (a config file path,
 * never a password) and runs the real one; with `strip`, it adds `-W none`, which overrides the
 * config file's workarounds: a BMC that refuses FreeIPMI even with opensesspriv (no ipmi_sim
 * setting does), so the fallback to ipmitool runs against the real ipmi_sim.
 */
function ipmipowerShim(strip: boolean): { calls: () => string[]; restore: () => void } {
  const real = which('ipmipower')!;
  const dir = mkdtempSync(join(tmpdir(), 'ockle-ipmipower-'));
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'ipmipower'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"${strip ? ' -W none' : ''}\n`, { mode: 0o755 });
  const before = process.env.PATH;
  process.env.PATH = `${dir}${delimiter}${before ?? ''}`;
  return {
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    restore: () => {
      process.env.PATH = before;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A driver context whose log lines are kept. */
function loggingContext(id: string): { ctx: ReturnType<typeof makeDriverContext>; warnings: () => string[] } {
  const lines: { level: number; msg: string }[] = [];
  const ctx = { ...makeDriverContext({ id }), log: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) }) };
  return { ctx, warnings: () => lines.filter((l) => l.level === 40).map((l) => l.msg) };
}

describePeer('ipmi with backend = auto (the default) against ipmi_sim', ['ipmi_sim', 'ipmitool', 'ipmipower'], () => {
  let bmc: SimBmc;
  beforeAll(async () => {
    bmc = await startBmc();
  }, 20_000);
  afterAll(async () => {
    await bmc?.stop();
  });

  it('reads a BMC that refuses FreeIPMI\'s privilege request: retries once with opensesspriv, keeps it, logs it once, says so in its details', async () => {
    const shim = ipmipowerShim(false);
    try {
      bmc.setPower(false);
      const { ctx, warnings } = loggingContext('bmc-auto');
      const d = ipmiDriver.create(spec(bmc, { backend: 'auto' }), ctx);
      await d.open(sig());
      expect(shim.calls()).toHaveLength(2); // as configured (refused), then -W opensesspriv
      expect((await d.read([1], sig())).get(1)).toBe('off');
      await d.switch(1, 'on', sig());
      expect((await d.read([1], sig())).get(1)).toBe('on');
      // The refused try is not repeated at every poll: one call per read from now on.
      expect(shim.calls()).toHaveLength(4);
      expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual(['set power 1']);
      expect(d.info!().details).toEqual({
        bmc: `ockle@127.0.0.1:${bmc.port}`,
        status: 'ipmipower -W opensesspriv (chosen automatically: the BMC refused privilege ADMINISTRATOR to ipmipower without it)',
        switching: 'ipmitool',
      });
      expect(warnings()).toEqual([
        'the BMC refuses ipmipower the session privilege: its status is read through ipmipower -W opensesspriv from now on (set workarounds = opensesspriv in the device file to skip the tries)',
      ]);
      for (const c of shim.calls()) expect(c).not.toContain(bmc.password);
    } finally {
      shim.restore();
    }
  });

  it('hands ipmipower its configuration through a pipe: no file with the password, ever; leftovers of older versions are removed', async () => {
    const shim = ipmipowerShim(false);
    try {
      const ctx = makeDriverContext({ id: 'bmc-pipe' });
      // A 0600 file an older ockle left behind when it was killed mid-read.
      mkdirSync(join(ctx.stateDir, 'ipmipower'), { recursive: true });
      writeFileSync(join(ctx.stateDir, 'ipmipower', '4242-stale.conf'), `username ockle\npassword ${bmc.password}\n`, { mode: 0o600 });
      const d = ipmiDriver.create(spec(bmc, { backend: 'ipmipower', workarounds: 'opensesspriv' }), ctx);
      expect(existsSync(join(ctx.stateDir, 'ipmipower'))).toBe(false);
      bmc.setPower(true);
      expect((await d.read([1], sig())).get(1)).toBe('on');
      expect(shim.calls().at(-1)).toMatch(/^--config-file \/dev\/stdin /);
      for (const c of shim.calls()) expect(c).not.toContain(bmc.password);
      expect(existsSync(join(ctx.stateDir, 'ipmipower'))).toBe(false);
    } finally {
      shim.restore();
    }
  });

  it('falls back to ipmitool for a BMC that refuses ipmipower even with opensesspriv, and stays there', async () => {
    const shim = ipmipowerShim(true);
    try {
      bmc.setPower(true);
      const before = bmc.calls().length;
      const { ctx, warnings } = loggingContext('bmc-strict');
      const d = ipmiDriver.create(spec(bmc, { backend: 'auto' }), ctx);
      expect((await d.read([1], sig())).get(1)).toBe('on');
      expect(shim.calls()).toHaveLength(2);
      expect((await d.read([1], sig())).get(1)).toBe('on');
      expect((await d.read([1], sig())).get(1)).toBe('on');
      expect(shim.calls()).toHaveLength(2); // ipmipower is not asked again
      expect(d.info!().details!.status).toBe('ipmitool (chosen automatically: the BMC refused privilege ADMINISTRATOR to ipmipower, also with -W opensesspriv)');
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatch(/read through ipmitool from now on \(set backend = ipmitool/);
      expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))).toEqual([]);
    } finally {
      shim.restore();
    }
  });

  it('backend = ipmipower does not fall back; the hint names workarounds = opensesspriv and backend = ipmitool, not a lower privilege', async () => {
    const err = (await ipmiDriver
      .create(spec(bmc, { backend: 'ipmipower' }), makeDriverContext({ id: 'bmc-p' }))
      .read([1], sig())
      .catch((e: unknown) => e)) as { code: string; message: string; hint: string };
    expect(err.code).toBe('OCKLE_DEVICE_REFUSED');
    expect(err.message).toMatch(/privilege level cannot be obtained for this user \(ADMINISTRATOR\)/);
    expect(err.hint).toMatch(/workarounds = opensesspriv, or backend = ipmitool/);
    expect(err.hint).not.toMatch(/lower/);
  });

  it('a cipher suite the BMC lacks (the default 17; ipmi_sim has none of SHA-256) gets a cipher_suite hint, on either path', async () => {
    for (const backend of ['auto', 'ipmitool']) {
      const d = ipmiDriver.create(spec(bmc, { backend, cipher_suite: 17 }), makeDriverContext({ id: `bmc-17-${backend}` }));
      await expect(d.read([1], sig())).rejects.toMatchObject({ code: 'OCKLE_DEVICE_REFUSED', message: expect.stringMatching(/cipher suite 17/), hint: expect.stringMatching(/cipher_suite = 3/) });
    }
    const before = bmc.calls().length;
    const d = ipmiDriver.create(spec(bmc, { cipher_suite: 17 }), makeDriverContext({ id: 'bmc-17-switch' }));
    await expect(d.switch(1, 'off', sig())).rejects.toMatchObject({ message: expect.stringMatching(/chassis power off .*cipher suite 17 not offered/), hint: expect.stringMatching(/cipher_suite = 3/) });
    expect(bmc.calls().slice(before).filter((c) => c.startsWith('set'))).toEqual([]);
  });
});

describe('ipmi config check', () => {
  const check = (files: Record<string, string>) =>
    checkConfig(join(REPO, 'config'), { drivers: defaultRegistry(), plugins: builtinPluginTemplates, overrides: new Map(Object.entries(files)) });
  const device = (password: string, extra = '') => `[device]\ntype = ipmi\nhost = 127.0.0.1\nuser = ockle\npassword = ${password}\n${extra}`;

  it('a password over 20 UTF-8 bytes is an error at its line, with the fix, never echoing it', async () => {
    const long = 'ü'.repeat(11); // 11 characters, 22 bytes
    const { problems, config } = await check({ 'devices/bmc-1.ini': device(long) });
    expect(config).toBeUndefined();
    const lines = problems.map(formatProblem);
    expect(lines).toContain(
      'devices/bmc-1.ini:5: password is longer than 20 bytes (UTF-8), the IPMI 2.0 limit Set a password of at most 20 bytes on the BMC and in password = (a non-ASCII character takes 2 to 4 bytes).',
    );
    expect(lines.join('\n')).not.toContain(long);
  });

  it('20 bytes pass; IPMI 1.5 (interface = lan) allows 16', async () => {
    expect((await check({ 'devices/bmc-1.ini': device('a'.repeat(20)) })).problems.filter((p) => p.severity === 'error')).toEqual([]);
    const { problems } = await check({ 'devices/bmc-1.ini': device('a'.repeat(17), 'interface = lan\n') });
    expect(problems.map(formatProblem)).toContain(
      'devices/bmc-1.ini:5: password is longer than 16 bytes (UTF-8), the IPMI 1.5 (interface = lan) limit Set a password of at most 16 bytes on the BMC and in password = (a non-ASCII character takes 2 to 4 bytes).',
    );
  });

  it('the ipmi-soft control has the same check, at the line of its own password', async () => {
    const server = '[server]\nhost = 127.0.0.1\noutlets = power\ncontrols = os\n\n[power]\ndevice = relay-1\noutlet = 4\n\n[os]\ntype = ipmi-soft\nhost = 127.0.0.1\nuser = ockle\npassword = a-password-of-24-bytes!!\n';
    const { problems } = await check({ 'servers/box-1.ini': server });
    const lines = problems.map(formatProblem);
    expect(lines).toContain('servers/box-1.ini:14: password is longer than 20 bytes (UTF-8), the IPMI 2.0 limit Set a password of at most 20 bytes on the BMC and in password = (a non-ASCII character takes 2 to 4 bytes).');
    expect(lines.join('\n')).not.toContain('a-password-of-24-bytes');
  });
});

describePeer('ipmi contract', ['ipmi_sim', 'ipmitool'], () => {
  describe('via ipmi_sim', () => {
    describeOutletDevice('ipmi (ipmi_sim)', async () => {
      const bmc = await startBmc({ on: true });
      const d = ipmiDriver.create(spec(bmc), makeDriverContext({ id: 'bmc-c' }));
      return {
        device: d,
        peer: { power: () => (bmc.power() === '1' ? 'on' : 'off'), writes: () => bmc.calls().filter((c) => c.startsWith('set')).length },
        close: () => bmc.stop(),
      };
    });
  });
});
