/**
 * `ockle devices probe DEVICE`: talks to one device straight from its config file, without the
 * daemon, and reports what it found: model, firmware, driver details (SNMP: profile and
 * sysObjectID), outlet count, names, states and metering. It opens, reads and closes: `open()`,
 * `read()` and `meter()` never switch (the driver contract), so probing is safe on a live rack.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Power, Reading } from '../../drivers/types.js';
import type { DriverRegistry } from '../../drivers/registry.js';
import type { DeviceConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { OckleError } from '../errors.js';
import { createOutletDevice } from '../world.js';

export interface ProbeReport {
  readonly device: string;
  readonly type: string;
  readonly model: string | null;
  readonly firmware: string | null;
  readonly details: Readonly<Record<string, string>>;
  readonly outletCount: number;
  readonly outlets: readonly { readonly outlet: number; readonly name: string | null; readonly power: Power; readonly reading: Reading | null }[];
  readonly ms: number;
}

export async function probeDevice(dc: DeviceConfig, drivers: DriverRegistry, timeoutMs: number): Promise<ProbeReport> {
  if (dc.type === 'sim')
    throw new OckleError('OCKLE_REQUEST_INVALID', `${dc.id} is a sim device: it is simulated inside the daemon, there is nothing to probe`, {
      hint: 'Use `ockle devices` to see its outlets.',
    });
  await drivers.load([['outlet', dc.type]]);
  const stateDir = await mkdtemp(join(tmpdir(), 'ockle-probe-'));
  // The same construction as the daemon's (src/world.ts), with a logger of its own.
  const device = createOutletDevice({ registry: drivers, log: createLogger({ level: 'warn' }), stateDir, shared: new Map() }, dc);
  const signal = AbortSignal.timeout(timeoutMs);
  const t0 = performance.now();
  try {
    await device.open(signal);
    const all = Array.from({ length: device.outletCount }, (_, i) => i + 1);
    const states = await device.read(all, signal);
    const readings = device.caps.metering && device.meter ? await device.meter(all, signal).catch(() => new Map<number, Reading>()) : new Map<number, Reading>();
    const info = device.info?.() ?? {};
    return {
      device: dc.id,
      type: dc.type,
      model: info.model ?? null,
      firmware: info.firmware ?? null,
      details: info.details ?? {},
      outletCount: device.outletCount,
      outlets: all.map((n) => ({ outlet: n, name: info.outletNames?.get(n) ?? null, power: states.get(n) ?? 'unknown', reading: readings.get(n) ?? null })),
      ms: Math.round(performance.now() - t0),
    };
  } finally {
    await device.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

export function formatProbe(r: ProbeReport): string {
  const lines = [`${r.device} (${r.type}): ${r.outletCount} outlets, read in ${r.ms} ms`];
  if (r.model) lines.push(`  model     ${r.model}`);
  if (r.firmware) lines.push(`  firmware  ${r.firmware}`);
  for (const [k, v] of Object.entries(r.details)) lines.push(`  ${k.padEnd(9)} ${v}`);
  const metered = r.outlets.some((o) => o.reading && Object.keys(o.reading).length > 0);
  const width = Math.max(4, ...r.outlets.map((o) => (o.name ?? '-').length));
  lines.push('', `  OUTLET  ${'NAME'.padEnd(width)}  STATE${metered ? '      READING' : ''}`);
  for (const o of r.outlets) {
    const rd = o.reading
      ? [o.reading.amps !== undefined && `${o.reading.amps} A`, o.reading.volts !== undefined && `${o.reading.volts} V`, o.reading.watts !== undefined && `${o.reading.watts} W`, o.reading.energyWh !== undefined && `${o.reading.energyWh} Wh`]
          .filter(Boolean)
          .join(', ')
      : '';
    lines.push(`  ${String(o.outlet).padStart(6)}  ${(o.name ?? '-').padEnd(width)}  ${o.power.padEnd(9)}${metered ? `  ${rd}` : ''}`.trimEnd());
  }
  return lines.join('\n') + '\n';
}
