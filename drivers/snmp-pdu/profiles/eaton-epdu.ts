import { byUnit, E, type Profile } from '../profile.js';

/**
 * Eaton ePDU G2/G3 ("Marlin"), EATON-EPDU-MIB. Commands are separate columns that take a delay
 * in seconds (0 = now), not a state; the status has pending values. Index: unit (0 = the master
 * of a daisy chain) then outlet. Ironic's eatonpower driver swaps pendingOff/pendingOn and omits
 * the unit; NUT and labgrid follow the MIB, as this profile does.
 */
export const eatonEpdu: Profile = {
  name: 'eaton-epdu',
  title: 'Eaton ePDU G2/G3 (EATON-EPDU-MIB)',
  mib: 'EATON-EPDU-MIB: outletControlStatus, outletControlOffCmd, outletControlOnCmd, outletControlRebootCmd, outletName, outletCurrent, outletVoltage, outletWatts, outletWh, productName, firmwareVersion',
  firmware: 'G2/G3 network modules; the older Managed ePDU "Revelation" (sysObjectID .534.6.6.6) uses another MIB and is not this profile.',
  sysObjectIds: [`${E}.534.6.6.7`],
  instance: byUnit,
  defaultUnit: 0,
  // outletControlStatus: off (0), on (1), pendingOff (2), pendingOn (3)
  status: { oid: `${E}.534.6.6.7.6.6.1.2`, values: { 0: 'off', 1: 'on', 2: 'switching', 3: 'switching' } },
  control: {
    off: { oid: `${E}.534.6.6.7.6.6.1.3`, value: 0 },
    on: { oid: `${E}.534.6.6.7.6.6.1.4`, value: 0 },
    cycle: { oid: `${E}.534.6.6.7.6.6.1.5`, value: 0 },
  },
  names: [`${E}.534.6.6.7.6.1.1.3`],
  metering: {
    amps: { oid: `${E}.534.6.6.7.6.4.1.3`, scale: 0.001 }, // outletCurrent, mA
    volts: { oid: `${E}.534.6.6.7.6.3.1.2`, scale: 0.001 }, // outletVoltage, mV
    watts: { oid: `${E}.534.6.6.7.6.5.1.3`, scale: 1 }, // outletWatts, W
    energyWh: { oid: `${E}.534.6.6.7.6.5.1.4`, scale: 1 }, // outletWh, Wh
  },
  // unitTable productName, firmwareVersion (as NUT's eaton-pdu-marlin reads them), by unit
  model: `${E}.534.6.6.7.1.2.1.2.{unit}`,
  firmwareVersion: `${E}.534.6.6.7.1.2.1.5.{unit}`,
};
