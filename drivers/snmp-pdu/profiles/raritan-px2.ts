import { byUnit, E, type Profile } from '../profile.js';

/**
 * Raritan PX2/PX3 and later, PDU2-MIB: outletSwitchingState / switchingOperation, indexed by
 * PDU id (1 for a standalone PDU; the unit key selects a cascaded one) then outlet.
 */
export const raritanPx2: Profile = {
  name: 'raritan-px2',
  title: 'Raritan PX2/PX3 (PDU2-MIB)',
  mib: 'PDU2-MIB: outletSwitchingState, switchingOperation, outletName, outletLabel, measurementsOutletSensorValue, pduModel, boardFirmwareVersion',
  firmware: 'PX2/PX3/PX4 firmware 2.x and later; PX1 answers PDU-MIB (raritan-px1).',
  sysObjectIds: [`${E}.13742.6`],
  instance: byUnit,
  defaultUnit: 1,
  // outletSwitchingState: unavailable (-1), on (7), off (8)
  status: { oid: `${E}.13742.6.4.1.2.1.3`, values: { [-1]: 'unknown', 7: 'on', 8: 'off' } },
  // switchingOperation: off (0), on (1), cycle (2)
  control: {
    on: { oid: `${E}.13742.6.4.1.2.1.2`, value: 1 },
    off: { oid: `${E}.13742.6.4.1.2.1.2`, value: 0 },
    cycle: { oid: `${E}.13742.6.4.1.2.1.2`, value: 2 },
  },
  names: [`${E}.13742.6.3.5.3.1.3`, `${E}.13742.6.3.5.3.1.2`],
  // measurementsOutletSensorValue .P.N.sensorType: rmsCurrent (1), rmsVoltage (4), activePower (5),
  // activeEnergy (8). Scales are the usual outletSensorDecimalDigits (3 for current, 0 for the rest);
  // in the recorded PDU2 unit, outletSensorUnits (amp, volt, watt, wattHour: so energy is Wh) and
  // outletSensorDecimalDigits agree with them on every outlet (snmp-recordings-metering.test.ts).
  metering: {
    amps: { oid: `${E}.13742.6.5.4.3.1.4`, scale: 0.001, suffix: '1' },
    volts: { oid: `${E}.13742.6.5.4.3.1.4`, scale: 1, suffix: '4' },
    watts: { oid: `${E}.13742.6.5.4.3.1.4`, scale: 1, suffix: '5' },
    energyWh: { oid: `${E}.13742.6.5.4.3.1.4`, scale: 1, suffix: '8' },
  },
  // pduModel (nameplateTable, by PDU id); boardFirmwareVersion of the main controller (.P.1.1)
  model: `${E}.13742.6.3.2.1.1.3.{unit}`,
  firmwareVersion: `${E}.13742.6.3.2.3.1.6.{unit}.1.1`,
};
