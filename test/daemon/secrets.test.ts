/**
 * Secrets (driver passwords, API tokens) never reach a log line or an API reply, over a full
 * daemon start, requests, a failed action, a refused reload and a stop.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DriverRegistry } from '../../drivers/registry.js';
import { builtinDrivers } from '../../drivers/builtin.js';
import { defineDriver, type OutletDevice, type Power } from '../../drivers/types.js';
import { secret, str } from '../../src/config/types.js';
import { LOCAL_TOKEN_FILE } from '../../src/config/paths.js';
import { Daemon } from '../../src/daemon.js';
import { DeviceUnreachableError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

const PASSWORD = 'hunter2-correct-horse-battery';

/**
 * A device whose protocol needs a password and which always fails to answer: the paths that
 * log errors are the ones most likely to leak a credential.
 */
const vault = defineDriver({
  kind: 'outlet',
  type: 'vault',
  description: 'test device with a password that never answers',
  template: {
    address: str({ help: 'address', default: '127.0.0.1' }),
    password: secret({ help: 'password', required: true }),
  },
  outletCount: () => 2,
  create(spec, ctx): OutletDevice {
    const fail = (): never => {
      throw new DeviceUnreachableError(ctx.id, `vault "${ctx.id}" at ${spec.address}: login refused`);
    };
    return {
      id: ctx.id,
      outletCount: 2,
      caps: { cycle: false, metering: false, bulkRead: true, readBack: 'real', maxConcurrency: 1 },
      open: async () => {
        ctx.log.debug({ spec }, 'opening vault');
        fail();
      },
      read: async (): Promise<ReadonlyMap<number, Power>> => fail(),
      switch: async () => fail(),
      close: async () => {},
    };
  },
});

describe('secrets', () => {
  let demo: DemoCopy;
  let daemon: Daemon | undefined;
  let lines: string[];
  beforeEach(async () => {
    demo = await demoConfig();
    lines = [];
    await demo.write(
      'devices/vault-1.ini',
      `[device]\ntype = vault\npassword = ${PASSWORD}\ntimeout = 200ms\nretries = 0\n`,
    );
    await demo.write(
      'servers/safe.ini',
      '[server]\noutlets = power\n\n[power]\ndevice = vault-1\noutlet = 1\n',
    );
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await demo.cleanup();
  });

  it('never logs or serves a password or a token, whatever happens', async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    daemon = await Daemon.start({
      configDir: demo.configDir,
      log: createLogger({ level: 'trace', destination: sink }),
      registry: new DriverRegistry([...builtinDrivers, vault]),
      monitor: false,
    });
    const token = (await readFile(join(demo.stateDir, LOCAL_TOKEN_FILE), 'utf8')).trim();
    expect(token).toMatch(/^ockle_/);
    const auth = { authorization: `Bearer ${token}` };
    const bodies: string[] = [];
    for (const path of ['/api/health', '/api/servers', '/api/devices', '/api/tree', '/api/actions', '/api/config/problems']) {
      const res = await fetch(`${daemon.url}${path}`, { headers: auth });
      expect(res.status, path).toBe(200);
      bodies.push(await res.text());
    }
    // A failing action and a refused reload both log errors about the vault.
    const post = await fetch(`${daemon.url}/api/servers/safe/actions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'on', force: true, reason: 'secret test' }),
    });
    expect(post.status).toBe(202);
    const { action } = (await post.json()) as { action: { id: string } };
    const done = await fetch(`${daemon.url}/api/actions/${action.id}?wait=10`, { headers: auth });
    const rec = (await done.json()) as { status: string };
    expect(rec.status).toBe('failed');
    bodies.push(JSON.stringify(rec));
    await demo.write('devices/vault-1.ini', `[device]\ntype = vault\npassword = ${PASSWORD}\ntimeout = fast\n`);
    expect(await daemon.reload()).toBe(false);
    await daemon.stop();
    daemon = undefined;

    const everything = lines.join('') + bodies.join('');
    expect(lines.length).toBeGreaterThan(5);
    expect(everything).toContain('vault-1');
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(token.slice(6, 30));
  });
});
