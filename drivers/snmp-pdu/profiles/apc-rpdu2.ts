import { byOutlet, E, type Profile } from '../profile.js';

/**
 * APC rack PDU 2nd generation, PowerNet-MIB rPDU2 group (rPDU2OutletSwitchedStatus/Control).
 * Its status column is INVERTED against its own control column: 1 = off, 2 = on. Recorded on an
 * AP7902B and an AP8641. `auto` prefers apc-rpdu, which the same firmware serves; choose this
 * profile explicitly for 2G-only firmware.
 */
export const apcRpdu2: Profile = {
  name: 'apc-rpdu2',
  title: 'APC rack PDU 2G (PowerNet-MIB rPDU2)',
  mib: 'PowerNet-MIB: rPDU2OutletSwitchedStatusState, rPDU2OutletSwitchedControlCommand, rPDU2OutletSwitchedStatusName',
  firmware: 'AOS 6.x on AP84xx/86xx/88xx/89xx (2G network management card); the rPDU view is served beside it.',
  sysObjectIds: [`${E}.318.1.3.4`],
  instance: byOutlet,
  defaultUnit: 1,
  // rPDU2OutletSwitchedStatusState: off (1), on (2)  (inverted against the command values)
  status: { oid: `${E}.318.1.1.26.9.2.3.1.5`, values: { 1: 'off', 2: 'on' } },
  // rPDU2OutletSwitchedControlCommand: immediateOn (1), immediateOff (2), immediateReboot (3)
  control: {
    on: { oid: `${E}.318.1.1.26.9.2.4.1.5`, value: 1 },
    off: { oid: `${E}.318.1.1.26.9.2.4.1.5`, value: 2 },
    cycle: { oid: `${E}.318.1.1.26.9.2.4.1.5`, value: 3 },
  },
  names: [`${E}.318.1.1.26.9.2.3.1.3`],
};
