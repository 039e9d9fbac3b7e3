import { E, type Profile } from '../profile.js';

/**
 * Server Technology Sentry3 (CDU, PDU firmware 6.x/7.x), Sentry3-MIB outletTable indexed by
 * tower, infeed, outlet. `unit` selects the tower (1 = A); infeed 1.
 */
export const sentry3: Profile = {
  name: 'sentry3',
  title: 'ServerTech Sentry3 (Sentry3-MIB)',
  mib: 'Sentry3-MIB: outletStatus, outletControlAction, outletName, outletLoadValue',
  firmware: 'Sentry CDU firmware 6.x/7.x; PRO1/PRO2 (firmware 8.x) answer Sentry4-MIB (sentry4).',
  sysObjectIds: [`${E}.1718.3`],
  instance: (n, unit) => `${unit}.1.${n}`,
  defaultUnit: 1,
  // outletStatus: off (0), on (1), offWait (2), onWait (3), offError (4), onError (5), noComm (6),
  // reading (7), offFuse (8), onFuse (9)
  status: {
    oid: `${E}.1718.3.2.3.1.5`,
    values: { 0: 'off', 1: 'on', 2: 'switching', 3: 'switching', 4: 'unknown', 5: 'unknown', 6: 'unknown', 7: 'switching', 8: 'off', 9: 'unknown' },
  },
  // outletControlAction: none (0), on (1), off (2), reboot (3)
  control: {
    on: { oid: `${E}.1718.3.2.3.1.11`, value: 1 },
    off: { oid: `${E}.1718.3.2.3.1.11`, value: 2 },
    cycle: { oid: `${E}.1718.3.2.3.1.11`, value: 3 },
  },
  names: [`${E}.1718.3.2.3.1.3`],
  // outletLoadValue: hundredths of amps
  metering: { amps: { oid: `${E}.1718.3.2.3.1.7`, scale: 0.01 } },
};
