/**
 * `tasmota`'s definition: its config keys, without the HTTP code (index.ts) that config loading
 * and `config check` need not load.
 */
import { duration, int, secret, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

export const tasmotaTemplate = {
  host: str({ required: true, help: 'Address of the Tasmota device (name or IP).' }),
  port: int({ min: 1, max: 65535, default: 80, help: 'HTTP port of its web server.' }),
  user: str({ default: 'admin', help: 'Web user (admin unless the firmware was built with another WEB_USERNAME); sent only with a password.' }),
  password: secret({ help: 'Web admin password (WebPassword), when one is set. Sent as a query parameter over plain HTTP, as Tasmota requires; never logged.' }),
  outlets: int({ min: 1, max: 32, help: 'Number of relays; read from the device (Status 0) when not given.' }),
  request_timeout: duration({ min: 100, max: 60_000, default: 5000, help: 'Time limit of one HTTP request.' }),
};

export const tasmotaSketch = sketchDriver({
  kind: 'outlet',
  type: 'tasmota',
  description: 'A Tasmota plug or relay board over its HTTP command API (PowerN ON|OFF, Status 11; energy from Status 10).',
  template: tasmotaTemplate,
  outletCount: (spec) => spec.outlets,
});
