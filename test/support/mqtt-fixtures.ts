/** Data the mqtt tests share: a UPS as `ups.changed` carries it (src/core/model.ts UpsStatus). */
import type { UpsStatus } from '../../src/core/model.js';
/** On battery, no readings: tests fill in what the UPS reports. */
export const UPS: UpsStatus = {
  name: 'rack-ups',
  type: 'nut',
  description: '',
  power: 'battery',
  lowBattery: false,
  forcedShutdown: false,
  chargePct: null,
  runtimeS: null,
  loadPct: null,
  inputVolts: null,
  flags: ['OB'],
  alarms: [],
  error: null,
  lastReadAt: null,
  powerSince: null,
  stage: 'on-battery',
  detail: 'on battery for 12 s',
  event: null,
  actionId: null,
  servers: ['web-1'],
};
