import { byUnit, E, type Profile } from '../profile.js';

/** HPE ePDU (G2 "intelligent" PDUs, CPQPOWER-MIB pdu2 group): delay-valued commands, pending states. */
export const hpeEpdu: Profile = {
  name: 'hpe-epdu',
  title: 'HPE ePDU (CPQPOWER-MIB pdu2Outlet)',
  mib: 'CPQPOWER-MIB: pdu2OutletControlStatus, pdu2OutletControlOffCmd, pdu2OutletControlOnCmd, pdu2OutletControlRebootCmd, pdu2OutletName, pdu2OutletCurrent, pdu2OutletWatts, pdu2OutletWh, pdu2Model, pdu2FirmwareVersion',
  sysObjectIds: [`${E}.232.165.7`],
  instance: byUnit,
  defaultUnit: 0,
  // pdu2OutletControlStatus: off (1), on (2), pendingOff (3), pendingOn (4)
  status: { oid: `${E}.232.165.7.5.2.1.1`, values: { 1: 'off', 2: 'on', 3: 'switching', 4: 'switching' } },
  control: {
    off: { oid: `${E}.232.165.7.5.2.1.2`, value: 0 },
    on: { oid: `${E}.232.165.7.5.2.1.3`, value: 0 },
    cycle: { oid: `${E}.232.165.7.5.2.1.4`, value: 0 },
  },
  names: [`${E}.232.165.7.5.1.1.2`],
  // pdu2OutletTable (…7.5.1.1, indexed by pdu2IdentIndex then outlet). Units, CPQPOWER-MIB
  // DESCRIPTIONs: pdu2OutletCurrent "Units are milliamps"; pdu2OutletWatts "Units are Watts";
  // pdu2OutletWh "A Watt-Hour value for each outlet. Units are WH" (resettable); a negative
  // value "indicates that this object is not available". No per-outlet voltage in this table.
  // No recording backs these columns yet: they follow the MIB text only.
  metering: {
    amps: { oid: `${E}.232.165.7.5.1.1.5`, scale: 0.001 },
    watts: { oid: `${E}.232.165.7.5.1.1.14`, scale: 1 },
    energyWh: { oid: `${E}.232.165.7.5.1.1.15`, scale: 1 },
  },
  // pdu2Model, pdu2FirmwareVersion (pdu2IdentTable, by unit)
  model: `${E}.232.165.7.1.2.1.3.{unit}`,
  firmwareVersion: `${E}.232.165.7.1.2.1.5.{unit}`,
};
