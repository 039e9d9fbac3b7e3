/**
 * `gpio-relay`'s definition: its config keys and checks, without the GPIO code (index.ts), so
 * config loading and `config check` do not load it.
 */
import { bool, int, list } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';
import { relayCommonTemplate } from '../relay/template.js';

export const gpioTemplate = {
  pins: list({ required: true, help: 'BCM GPIO numbers, one per outlet in order (outlet 1 = the first), e.g. 5, 6, 13, 19.' }),
  active_low: bool({ default: false, help: 'The relay pulls in when its pin is LOW (most opto-isolated relay modules; many HATs are active-high).' }),
  invert: relayCommonTemplate.invert,
  gpio_base: int({ min: 0, max: 4096, help: 'sysfs number of BCM GPIO 0; found from the GPIO chip labels when not given (512 on a Pi 4 with kernel 6.6+).' }),
};

export const gpioRelaySketch = sketchDriver({
  kind: 'outlet',
  type: 'gpio-relay',
  description: 'Relays on the Raspberry Pi GPIO header (relay HATs, relay modules); taken without changing their level.',
  template: gpioTemplate,
  outletCount: (spec) => spec.pins.length,
  check: (spec) => {
    const bad = spec.pins.filter((p) => !/^\d+$/.test(p) || Number(p) > 53);
    return bad.length > 0 ? [{ key: 'pins', message: `pins must be BCM GPIO numbers 0–53: ${bad.join(', ')}`, hint: 'Use BCM numbers (GPIO17 = 17), not header pin positions.' }] : [];
  },
});
