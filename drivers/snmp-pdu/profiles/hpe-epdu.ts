import { byUnit, E, type Profile } from '../profile.js';

/** HPE ePDU (G2 "intelligent" PDUs, CPQPOWER-MIB pdu2 group): delay-valued commands, pending states. */
export const hpeEpdu: Profile = {
  name: 'hpe-epdu',
  title: 'HPE ePDU (CPQPOWER-MIB pdu2Outlet)',
  mib: 'CPQPOWER-MIB: pdu2OutletControlStatus, pdu2OutletControlOffCmd, pdu2OutletControlOnCmd, pdu2OutletControlRebootCmd, pdu2OutletName',
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
};
