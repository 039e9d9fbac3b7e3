/** Generated docs stay in sync with their sources; every error code is well-formed. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../tools/config-docs.js';
import { renderErrorsDoc } from '../tools/errors-doc.js';
import { renderSnmpDocs } from '../tools/snmp-pdu-docs.js';
import * as errors from '../src/errors.js';
import { ActionStats, render } from '../plugins/metrics/plugin.js';
import { EVENT_NAMES } from '../src/api/server.js';
import { PLUGIN_METHODS } from '../src/plugin-host/bridge.js';
import { REPO } from './support/demo.js';

describe('generated docs', () => {
  it('docs/errors.md matches src/errors.ts (regenerate: npm run docs)', () => {
    expect(readFileSync(join(REPO, 'docs', 'errors.md'), 'utf8')).toBe(renderErrorsDoc());
  });
  it('docs/config.md matches the schema (regenerate: npm run docs)', () => {
    expect(readFileSync(join(REPO, 'docs', 'config.md'), 'utf8')).toBe(renderConfigDocs());
  });
  it('docs/snmp-pdu.md matches the profiles (regenerate: npm run docs)', () => {
    expect(readFileSync(join(REPO, 'docs', 'snmp-pdu.md'), 'utf8')).toBe(renderSnmpDocs());
  });
});

describe('docs/plugins.md', () => {
  const doc = readFileSync(join(REPO, 'docs', 'plugins.md'), 'utf8');
  it('names every metric family the metrics plugin exports', () => {
    const metered = { watts: 1, amps: 1, volts: 1, energyWh: 1 };
    const device = { id: 'd', type: 'sim', description: '', reachable: true, error: null, readBack: 'real', outletCount: 1, outlets: [{ outlet: 1, power: 'on', name: null, boundTo: null, reading: metered }], model: null, firmware: null, details: {}, lastPollAt: null, lastPollMs: 1 } as const;
    const families = [...render([], [device], new ActionStats()).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!);
    expect(families.length).toBeGreaterThan(10);
    for (const f of families) expect(doc, f).toContain(`\`${f}\``);
  });
  it('lists every ctx.call method and every event a plugin can subscribe to', () => {
    for (const m of PLUGIN_METHODS) expect(doc, m).toContain(`| \`${m}\` |`);
    for (const e of EVENT_NAMES) expect(doc, e).toContain(`\`${e}\``);
  });
});

describe('error codes', () => {
  it('are OCKLE_<AREA>_<WHAT> with a meaning, a fix and an HTTP status', () => {
    for (const [code, e] of Object.entries(errors.ERROR_CODES)) {
      expect(code).toMatch(/^OCKLE_[A-Z]+_[A-Z_]+$/);
      expect(e.meaning.length).toBeGreaterThan(10);
      expect(e.fix.length).toBeGreaterThan(10);
      expect(e.status).toBeGreaterThanOrEqual(400);
    }
  });
  it('serialise to code, message and hint only (no stack, no cause)', () => {
    const e = new errors.DeviceUnreachableError('pdu-1', 'no answer', { cause: new Error('inner') });
    expect(e.toJSON()).toEqual({ code: 'OCKLE_DEVICE_UNREACHABLE', message: 'no answer', hint: errors.ERROR_CODES.OCKLE_DEVICE_UNREACHABLE.fix });
    expect(e.status).toBe(502);
    expect(new errors.ActionBusyError('vm-1', 'a1').hint).toContain('ockle cancel a1');
    expect(errors.toOckleError(new Error('x')).code).toBe('OCKLE_INTERNAL_ERROR');
  });
});
