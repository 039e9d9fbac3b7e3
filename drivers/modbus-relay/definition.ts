/**
 * `modbus-relay`'s definition: its config keys and checks, without the Modbus code (index.ts)
 * that config loading and `config check` need not load.
 */
import { duration, int, select, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';
import { relayCommonTemplate } from '../relay/template.js';

export const modbusTemplate = {
  ...relayCommonTemplate,
  transport: select({ choices: ['tcp', 'rtu'], default: 'tcp', help: 'Modbus TCP (Ethernet modules) or Modbus RTU (serial RS-485).' }),
  host: str({ help: 'tcp: address of the module.' }),
  port: int({ min: 1, max: 65535, default: 502, help: 'tcp: TCP port.' }),
  path: str({ help: 'rtu: serial device; prefer a stable /dev/serial/by-id/… path.' }),
  baud: int({ min: 300, max: 921_600, default: 9600, help: 'rtu: baud rate.' }),
  parity: select({ choices: ['none', 'even', 'odd'], default: 'none', help: 'rtu: parity.' }),
  stop_bits: int({ min: 1, max: 2, default: 1, help: 'rtu: stop bits.' }),
  unit_id: int({ min: 0, max: 247, default: 1, help: 'Modbus unit (slave) id of the module.' }),
  mode: select({ choices: ['coils', 'registers'], default: 'coils', help: 'coils: FC1 read, FC5 write. registers: FC3 read, FC6 write of a command value per relay.' }),
  first_address: int({ min: 0, max: 65_535, default: 0, help: 'Address of relay 1 (0-based protocol address; many manuals number from 1).' }),
  register_on: int({ min: 0, max: 65_535, default: 1, help: 'registers: value written to energise a relay (some modules: 256).' }),
  register_off: int({ min: 0, max: 65_535, default: 0, help: 'registers: value written to release a relay (some modules: 512).' }),
  register_read_on: int({ min: 0, max: 65_535, default: 1, help: 'registers: value a register reads when its relay is energised.' }),
  request_timeout: duration({ min: 50, max: 30_000, default: 1000, help: 'How long one Modbus transaction waits for its reply.' }),
};

export const modbusRelaySketch = sketchDriver({
  kind: 'outlet',
  type: 'modbus-relay',
  description: 'Relay module on Modbus TCP or RTU (coils or command registers), read in one request.',
  template: modbusTemplate,
  outletCount: (spec) => spec.outlets,
  check: (spec) => {
    const p: { key: string; message: string; hint: string }[] = [];
    if (spec.transport === 'tcp' && !spec.host) p.push({ key: 'transport', message: 'transport = tcp needs host', hint: 'Add host = the module’s address.' });
    if (spec.transport === 'rtu' && !spec.path) p.push({ key: 'transport', message: 'transport = rtu needs path', hint: 'Add path = /dev/serial/by-id/… (the USB RS-485 adapter).' });
    if (spec.first_address + spec.outlets - 1 > 65_535) p.push({ key: 'first_address', message: 'first_address + outlets goes past address 65535', hint: 'Lower first_address or outlets.' });
    return p;
  },
});
