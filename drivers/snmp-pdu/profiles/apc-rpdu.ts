import { byOutlet, E, type Profile } from '../profile.js';
import { apcRpdu2Metering } from './apc-rpdu2.js';

/**
 * APC Switched Rack PDU, PowerNet-MIB rPDU group (rPDUOutletControl / rPDUOutletStatus).
 * Served by AP78xx/79xx (sysObjectID .318.1.3.4.5) and still by AP86xx/89xx (.4.6) and the
 * AP7902B 2G (.4.8) beside their rPDU2 tables; recorded on an AP7902B and an AP8641.
 */
export const apcRpdu: Profile = {
  name: 'apc-rpdu',
  title: 'APC Switched Rack PDU (PowerNet-MIB rPDU)',
  mib: 'PowerNet-MIB: rPDUOutletStatusOutletState, rPDUOutletStatusCommandPending, rPDUOutletControlOutletCommand, rPDUOutletDevNumCntrlOutlets, rPDUOutletStatusOutletName, rPDU2OutletMeteredStatusCurrent/Power/Energy, rPDUIdentModelNumber, rPDUIdentFirmwareRevision',
  firmware: 'All AOS versions of AP78xx/79xx; AP86xx/89xx and AP7902B (AOS 6.x) answer it as well as rPDU2.',
  sysObjectIds: [`${E}.318.1.3.4.5`, `${E}.318.1.3.4.6`, `${E}.318.1.3.4.7`, `${E}.318.1.3.4.8`, `${E}.318.1.3.4.9`],
  instance: byOutlet,
  defaultUnit: 1,
  // rPDUOutletStatusOutletState: outletStatusOn (1), outletStatusOff (2)
  status: { oid: `${E}.318.1.1.12.3.5.1.1.4`, values: { 1: 'on', 2: 'off' } },
  // rPDUOutletStatusCommandPending: outletStatusCommandPending (1), outletStatusNoCommandPending (2)
  pending: { oid: `${E}.318.1.1.12.3.5.1.1.5`, values: [1] },
  // rPDUOutletControlOutletCommand: immediateOn (1), immediateOff (2), immediateReboot (3)
  control: {
    on: { oid: `${E}.318.1.1.12.3.3.1.1.4`, value: 1 },
    off: { oid: `${E}.318.1.1.12.3.3.1.1.4`, value: 2 },
    cycle: { oid: `${E}.318.1.1.12.3.3.1.1.4`, value: 3 },
  },
  outletCount: `${E}.318.1.1.12.3.1.4.0`,
  names: [`${E}.318.1.1.12.3.5.1.1.2`],
  // rPDU2OutletMeteredStatus, served beside this group by the same card (apc-rpdu2.ts)
  metering: apcRpdu2Metering,
  // rPDUIdentModelNumber, rPDUIdentFirmwareRevision
  model: `${E}.318.1.1.12.1.5.0`,
  firmwareVersion: `${E}.318.1.1.12.1.3.0`,
};
