import { byUnit, E, type Profile } from '../profile.js';

/**
 * Tripp Lite switched PDUs, TRIPPLITE-PRODUCTS tlpPduOutletTable (WEBCARDLX, PowerAlert up to
 * 15.4). Status is INVERTED against intuition: 1 = off, 2 = on; commands: 1 off, 2 on, 3 cycle.
 * Index: device (1) then outlet.
 */
export const tripplite: Profile = {
  name: 'tripplite',
  title: 'Tripp Lite PDU (TRIPPLITE-PRODUCTS tlpPduOutlet)',
  mib: 'TRIPPLITE-PRODUCTS: tlpPduOutletState, tlpPduOutletCommand, tlpPduOutletName, tlpPduOutletVoltage, tlpPduOutletCurrent, tlpPduOutletPower, tlpDeviceModel',
  firmware: 'WEBCARDLX with PowerAlert ≤ 15.4; PowerAlert 15.5 serves the same table under .850.1.1.3.4 (tripplite-pa15).',
  sysObjectIds: [`${E}.850.1.1.1`, `${E}.850`],
  instance: byUnit,
  defaultUnit: 1,
  // tlpPduOutletState: off (1), on (2)
  status: { oid: `${E}.850.1.1.3.2.3.3.1.1.4`, values: { 1: 'off', 2: 'on' } },
  // tlpPduOutletCommand: idle (0), turnOff (1), turnOn (2), cycle (3)
  control: {
    off: { oid: `${E}.850.1.1.3.2.3.3.1.1.6`, value: 1 },
    on: { oid: `${E}.850.1.1.3.2.3.3.1.1.6`, value: 2 },
    cycle: { oid: `${E}.850.1.1.3.2.3.3.1.1.6`, value: 3 },
  },
  names: [`${E}.850.1.1.3.2.3.3.1.1.2`],
  // tlpPduOutletTable columns 7-9. TRIPPLITE-PRODUCTS UNITS: tlpPduOutletVoltage "0.1 Volts",
  // tlpPduOutletCurrent "0.01 Amps", tlpPduOutletPower "Watts"; a receptacle that does not
  // measure answers noSuchName. The table has no per-outlet energy. No recording backs these
  // columns yet: they follow the MIB text only.
  metering: {
    volts: { oid: `${E}.850.1.1.3.2.3.3.1.1.7`, scale: 0.1 },
    amps: { oid: `${E}.850.1.1.3.2.3.3.1.1.8`, scale: 0.01 },
    watts: { oid: `${E}.850.1.1.3.2.3.3.1.1.9`, scale: 1 },
  },
  // tlpDeviceModel (tlpDeviceTable, by device): the model, where sysDescr names the card's OS
  model: `${E}.850.1.1.1.2.1.5.{unit}`,
};

/** The same table as served by PowerAlert 15.5 and later (seen on a PDUMH20ATNET). */
export const tripplitePa15: Profile = {
  ...tripplite,
  name: 'tripplite-pa15',
  title: 'Tripp Lite PDU, PowerAlert 15.5+ (TRIPPLITE-PRODUCTS under .850.1.1.3.4)',
  firmware: 'PowerAlert 15.5 and later; older firmware: tripplite.',
  status: { oid: `${E}.850.1.1.3.4.3.3.1.1.4`, values: { 1: 'off', 2: 'on' } },
  control: {
    off: { oid: `${E}.850.1.1.3.4.3.3.1.1.6`, value: 1 },
    on: { oid: `${E}.850.1.1.3.4.3.3.1.1.6`, value: 2 },
    cycle: { oid: `${E}.850.1.1.3.4.3.3.1.1.6`, value: 3 },
  },
  names: [`${E}.850.1.1.3.4.3.3.1.1.2`],
  // .850.1.1.3.4 is tlpAts in TRIPPLITE-PRODUCTS (the PDUMH20ATNET is an ATS PDU), and
  // tlpAtsOutletEntry has the layout of tlpPduOutletEntry: tlpAtsOutletVoltage (7) "0.1 Volts",
  // tlpAtsOutletCurrent (8) "0.01 Amps", tlpAtsOutletPower (9) "Watts"; no per-outlet energy.
  metering: {
    volts: { oid: `${E}.850.1.1.3.4.3.3.1.1.7`, scale: 0.1 },
    amps: { oid: `${E}.850.1.1.3.4.3.3.1.1.8`, scale: 0.01 },
    watts: { oid: `${E}.850.1.1.3.4.3.3.1.1.9`, scale: 1 },
  },
};
