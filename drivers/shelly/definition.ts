/**
 * `shelly`'s definition: its config keys, without the RPC and digest code (index.ts) that config
 * loading and `config check` need not load.
 */
import { duration, int, secret, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

export const shellyTemplate = {
  host: str({ required: true, help: 'Address of the Shelly device (name or IP).' }),
  port: int({ min: 1, max: 65535, default: 80, help: 'HTTP port.' }),
  password: secret({ help: 'The device password (user admin), when authentication is on; sent only as a SHA-256 digest. Never logged.' }),
  outlets: int({ min: 1, max: 16, help: 'Number of switch channels (outlet N is switch id N−1); read from the device when not given.' }),
  request_timeout: duration({ min: 100, max: 60_000, default: 5000, help: 'Time limit of one HTTP request.' }),
};

export const shellySketch = sketchDriver({
  kind: 'outlet',
  type: 'shelly',
  description: 'A Shelly Gen2+ plug or relay (Plus, Pro, Gen3/4) over its RPC API: Switch.GetStatus, Switch.Set, power/voltage/current/energy; digest auth.',
  template: shellyTemplate,
  outletCount: (spec) => spec.outlets,
});
