import { byOutlet, E, type Profile } from '../profile.js';

/**
 * Raritan Dominion PX (first generation), PDU-MIB: the OIDs Ockle used (state at .3, current at .4).
 */
export const raritanPx1: Profile = {
  name: 'raritan-px1',
  title: 'Raritan Dominion PX1 (PDU-MIB)',
  mib: 'PDU-MIB: outletOperationalState, outletCurrent, outletLabel',
  firmware: 'PX1 firmware 1.x; PX2/PX3 (firmware 2.x and later) answer PDU2-MIB instead (raritan-px2).',
  sysObjectIds: [`${E}.13742.4`],
  instance: byOutlet,
  defaultUnit: 1,
  // outletOperationalState: error (-1), off (0), on (1), cycling (2)
  status: { oid: `${E}.13742.4.1.2.2.1.3`, values: { [-1]: 'unknown', 0: 'off', 1: 'on', 2: 'switching' } },
  control: {
    on: { oid: `${E}.13742.4.1.2.2.1.3`, value: 1 },
    off: { oid: `${E}.13742.4.1.2.2.1.3`, value: 0 },
    cycle: { oid: `${E}.13742.4.1.2.2.1.3`, value: 2 },
  },
  names: [`${E}.13742.4.1.2.2.1.2`],
  // outletCurrent: milliamps
  metering: { amps: { oid: `${E}.13742.4.1.2.2.1.4`, scale: 0.001 } },
};
