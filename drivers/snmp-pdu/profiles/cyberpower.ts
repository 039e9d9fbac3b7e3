import { byOutlet, E, type Profile } from '../profile.js';

/** CyberPower switched/metered-by-outlet ePDUs, CPS-MIB ePDUOutlet groups. Recorded on a PDU44005. */
export const cyberpower: Profile = {
  name: 'cyberpower',
  title: 'CyberPower ePDU (CPS-MIB ePDUOutlet)',
  mib: 'CPS-MIB: ePDUOutletStatusOutletState, ePDUOutletControlOutletCommand, ePDUOutletControlOutletName, ePDUOutletStatusLoad, ePDUIdentModelNumber, ePDUIdentFirmwareRev',
  sysObjectIds: [`${E}.3808.1.1`],
  instance: byOutlet,
  defaultUnit: 1,
  // ePDUOutletStatusOutletState: outletStatusOn (1), outletStatusOff (2)
  status: { oid: `${E}.3808.1.1.3.3.5.1.1.4`, values: { 1: 'on', 2: 'off' } },
  // ePDUOutletControlOutletCommand: immediateOn (1), immediateOff (2), immediateReboot (3)
  control: {
    on: { oid: `${E}.3808.1.1.3.3.3.1.1.4`, value: 1 },
    off: { oid: `${E}.3808.1.1.3.3.3.1.1.4`, value: 2 },
    cycle: { oid: `${E}.3808.1.1.3.3.3.1.1.4`, value: 3 },
  },
  names: [`${E}.3808.1.1.3.3.3.1.1.2`, `${E}.3808.1.1.3.3.5.1.1.2`],
  // ePDUOutletStatusLoad: tenths of amps
  metering: { amps: { oid: `${E}.3808.1.1.3.3.5.1.1.7`, scale: 0.1 } },
  // ePDUIdentModelNumber, ePDUIdentFirmwareRev
  model: `${E}.3808.1.1.3.1.5.0`,
  firmwareVersion: `${E}.3808.1.1.3.1.3.0`,
};
