import { E, type Profile } from '../profile.js';

/**
 * Server Technology Sentry4 (PRO1/PRO2, firmware 8.x), Sentry4-MIB st4Outlet tables indexed by
 * unit, cord, outlet. `unit` selects the unit (1 = master); cord 1. Commands use the immediate
 * actions (on/off/reboot), not the queue-and-commit ones.
 */
export const sentry4: Profile = {
  name: 'sentry4',
  title: 'ServerTech Sentry4 / PRO (Sentry4-MIB)',
  mib: 'Sentry4-MIB: st4OutletState, st4OutletControlAction, st4OutletName',
  firmware: 'PRO1/PRO2 firmware 8.x; older CDUs answer Sentry3-MIB (sentry3).',
  sysObjectIds: [`${E}.1718.4`],
  instance: (n, unit) => `${unit}.1.${n}`,
  defaultUnit: 1,
  // st4OutletState: unknown (0), on (1), off (2)
  status: { oid: `${E}.1718.4.1.8.3.1.1`, values: { 0: 'unknown', 1: 'on', 2: 'off' } },
  // st4OutletControlAction: none (0), on (1), off (2), reboot (3)
  control: {
    on: { oid: `${E}.1718.4.1.8.5.1.2`, value: 1 },
    off: { oid: `${E}.1718.4.1.8.5.1.2`, value: 2 },
    cycle: { oid: `${E}.1718.4.1.8.5.1.2`, value: 3 },
  },
  names: [`${E}.1718.4.1.8.2.1.3`],
};
