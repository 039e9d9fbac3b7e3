import { byOutlet, E, type Profile } from '../profile.js';
import { apcRpdu2Metering } from './apc-rpdu2.js';

/**
 * APC MasterSwitch (AP92xx, AP96xx, early AP79xx), PowerNet-MIB sPDU group: one column
 * (sPDUOutletCtl) is read for the state and written for a command.
 */
export const apcSpdu: Profile = {
  name: 'apc-spdu',
  title: 'APC MasterSwitch (PowerNet-MIB sPDUOutletCtl)',
  mib: 'PowerNet-MIB: sPDUOutletCtl, sPDUOutletControlTableSize, sPDUOutletName, rPDU2OutletMeteredStatusCurrent/Power/Energy, sPDUIdentModelNumber, sPDUIdentFirmwareRev',
  firmware: 'MasterSwitch and MasterSwitch VM firmware; AP79xx/AP86xx still answer it (recorded), but prefer apc-rpdu there.',
  sysObjectIds: [`${E}.318.1.3.4.1`, `${E}.318.1.3.4.2`, `${E}.318.1.3.4.3`, `${E}.318.1.3.4`],
  instance: byOutlet,
  defaultUnit: 1,
  // sPDUOutletCtl (read): outletOn (1), outletOff (2), outletUnknown (4)
  status: { oid: `${E}.318.1.1.4.4.2.1.3`, values: { 1: 'on', 2: 'off', 4: 'unknown' } },
  // sPDUOutletCtl (write): outletOn (1), outletOff (2), outletReboot (3)
  control: {
    on: { oid: `${E}.318.1.1.4.4.2.1.3`, value: 1 },
    off: { oid: `${E}.318.1.1.4.4.2.1.3`, value: 2 },
    cycle: { oid: `${E}.318.1.1.4.4.2.1.3`, value: 3 },
  },
  outletCount: `${E}.318.1.1.4.4.1.0`,
  names: [`${E}.318.1.1.4.5.2.1.3`, `${E}.318.1.1.4.4.2.1.4`],
  // rPDU2OutletMeteredStatus, served beside this group by AP86xx/89xx cards (apc-rpdu2.ts)
  metering: apcRpdu2Metering,
  // sPDUIdentModelNumber, sPDUIdentFirmwareRev
  model: `${E}.318.1.1.4.1.4.0`,
  firmwareVersion: `${E}.318.1.1.4.1.2.0`,
};
