import { byUnit, E, type Profile } from '../profile.js';

/**
 * Tripp Lite switched PDUs, TRIPPLITE-PRODUCTS tlpPduOutletTable (WEBCARDLX, PowerAlert up to
 * 15.4). Status is INVERTED against intuition: 1 = off, 2 = on; commands: 1 off, 2 on, 3 cycle.
 * Index: device (1) then outlet.
 */
export const tripplite: Profile = {
  name: 'tripplite',
  title: 'Tripp Lite PDU (TRIPPLITE-PRODUCTS tlpPduOutlet)',
  mib: 'TRIPPLITE-PRODUCTS: tlpPduOutletState, tlpPduOutletCommand, tlpPduOutletName',
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
};
