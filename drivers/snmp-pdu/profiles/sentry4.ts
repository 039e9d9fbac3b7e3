import { E, type Profile } from '../profile.js';

/**
 * Server Technology Sentry4 (PRO1/PRO2, firmware 8.x), Sentry4-MIB st4Outlet tables indexed by
 * unit, cord, outlet. `unit` selects the unit (1 = master); cord 1. Commands use the immediate
 * actions (on/off/reboot), not the queue-and-commit ones.
 */
export const sentry4: Profile = {
  name: 'sentry4',
  title: 'ServerTech Sentry4 / PRO (Sentry4-MIB)',
  mib: 'Sentry4-MIB: st4OutletState, st4OutletControlAction, st4OutletName, st4OutletCurrent, st4OutletVoltage, st4OutletActivePower, st4OutletEnergy, st4UnitModel',
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
  // st4OutletMonitorTable (…8.3.1, unit.cord.outlet). Sentry4-MIB UNITS: st4OutletCurrent
  // "hundredth Amps", st4OutletVoltage "tenth Volts", st4OutletActivePower "Watts",
  // st4OutletEnergy "Watt-Hours" (while st4InputCordEnergy counts "tenth Kilowatt-Hours": the
  // outlet and cord energies differ by 100×). -1 = not measured. No recording backs these
  // columns yet: they follow the MIB text only.
  metering: {
    amps: { oid: `${E}.1718.4.1.8.3.1.3`, scale: 0.01 },
    volts: { oid: `${E}.1718.4.1.8.3.1.6`, scale: 0.1 },
    watts: { oid: `${E}.1718.4.1.8.3.1.7`, scale: 1 },
    energyWh: { oid: `${E}.1718.4.1.8.3.1.14`, scale: 1 },
  },
  // st4UnitModel (st4UnitConfigTable, by unit)
  model: `${E}.1718.4.1.2.2.1.5.{unit}`,
};
