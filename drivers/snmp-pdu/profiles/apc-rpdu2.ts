import { byOutlet, E, type Profile } from '../profile.js';

/**
 * Per-outlet metering, PowerNet-MIB rPDU2OutletMeteredStatusTable: the metered view of the
 * outlets, served by the 2G card beside the rPDU2, rPDU and sPDU groups (recorded on the AP8641;
 * switched-only models such as the AP7902B have no such table, so they show no metering). Its
 * index is the outlet number on a standalone PDU (rPDU2OutletMeteredStatusNumber agrees in the
 * recording). Units, from the MIB DESCRIPTIONs: rPDU2OutletMeteredStatusCurrent "in tenths of
 * Amps"; rPDU2OutletMeteredStatusPower "in Watts"; rPDU2OutletMeteredStatusEnergy "A user
 * resettable energy meter measuring Rack PDU load energy consumption in tenths of
 * kilowatt-hours", so Wh = value × 100.
 */
export const apcRpdu2Metering: NonNullable<Profile['metering']> = {
  amps: { oid: `${E}.318.1.1.26.9.4.3.1.6`, scale: 0.1 },
  watts: { oid: `${E}.318.1.1.26.9.4.3.1.7`, scale: 1 },
  energyWh: { oid: `${E}.318.1.1.26.9.4.3.1.11`, scale: 100 },
};

/**
 * APC rack PDU 2nd generation, PowerNet-MIB rPDU2 group (rPDU2OutletSwitchedStatus/Control).
 * Its status column is INVERTED against its own control column: 1 = off, 2 = on. Recorded on an
 * AP7902B and an AP8641. `auto` prefers apc-rpdu, which the same firmware serves; choose this
 * profile explicitly for 2G-only firmware.
 */
export const apcRpdu2: Profile = {
  name: 'apc-rpdu2',
  title: 'APC rack PDU 2G (PowerNet-MIB rPDU2)',
  mib: 'PowerNet-MIB: rPDU2OutletSwitchedStatusState, rPDU2OutletSwitchedControlCommand, rPDU2OutletSwitchedStatusName, rPDU2OutletMeteredStatusCurrent/Power/Energy, rPDU2IdentModelNumber, rPDU2IdentFirmwareRevision',
  firmware: 'AOS 6.x on AP84xx/86xx/88xx/89xx (2G network management card); the rPDU view is served beside it.',
  sysObjectIds: [`${E}.318.1.3.4`],
  instance: byOutlet,
  defaultUnit: 1,
  // rPDU2OutletSwitchedStatusState: off (1), on (2)  (inverted against the command values)
  status: { oid: `${E}.318.1.1.26.9.2.3.1.5`, values: { 1: 'off', 2: 'on' } },
  // rPDU2OutletSwitchedControlCommand: immediateOn (1), immediateOff (2), immediateReboot (3)
  control: {
    on: { oid: `${E}.318.1.1.26.9.2.4.1.5`, value: 1 },
    off: { oid: `${E}.318.1.1.26.9.2.4.1.5`, value: 2 },
    cycle: { oid: `${E}.318.1.1.26.9.2.4.1.5`, value: 3 },
  },
  names: [`${E}.318.1.1.26.9.2.3.1.3`],
  metering: apcRpdu2Metering,
  // rPDU2IdentModelNumber, rPDU2IdentFirmwareRevision (rPDU2IdentTable, indexed by the PDU in a chain)
  model: `${E}.318.1.1.26.2.1.8.{unit}`,
  firmwareVersion: `${E}.318.1.1.26.2.1.6.{unit}`,
};
