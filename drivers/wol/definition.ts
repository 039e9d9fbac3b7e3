/**
 * `wol`'s definition: its config keys, without the UDP sender (index.ts) that config loading and
 * `config check` need not load.
 */
import { int, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

const MAC = /^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export const wolTemplate = {
  mac: str({ required: true, pattern: MAC, patternHelp: 'a MAC address such as 00:11:22:33:44:55', help: 'MAC address of the network interface that wakes the machine.' }),
  broadcast: str({
    default: '255.255.255.255',
    pattern: IPV4,
    patternHelp: 'an IPv4 address such as 192.168.1.255',
    help: 'Where the magic packet goes: the broadcast address of the machine’s network (e.g. 192.168.1.255), or 255.255.255.255 for the Pi’s own segment.',
  }),
  port: int({ min: 1, max: 65535, default: 9, help: 'UDP port of the magic packet (9, discard, or 7).' }),
  packets: int({ min: 1, max: 10, default: 3, help: 'Copies sent per "on" (UDP may drop one; a machine already awake ignores them).' }),
};

export const wolSketch = sketchDriver({
  kind: 'outlet',
  type: 'wol',
  description: 'Wake-on-LAN: an on-only outlet that sends the magic packet to a MAC; off goes through the server’s controls. State assumed (last sent).',
  template: wolTemplate,
  outletCount: () => 1,
});
