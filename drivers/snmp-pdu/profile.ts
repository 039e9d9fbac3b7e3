/**
 * A switched-PDU vendor profile: which OIDs say and change an outlet's state, in which values.
 * Profiles are data (one file per MIB in `profiles/`), so vendor knowledge is reviewed against
 * its MIB, not hidden in code paths. OIDs are columns without the leading dot; the outlet's
 * instance suffix (`instance(n, unit)`) is appended.
 */

/** What a status value means. Pending and transitional values read as `switching`, never on/off. */
export type OutletValue = 'on' | 'off' | 'switching' | 'unknown';

/** A SET: write `value` (an INTEGER) to `oid` + instance. */
export interface Command {
  readonly oid: string;
  readonly value: number;
}

/**
 * A metering column: reading × scale = the unit named by the field (A, W, Wh, V). The scale
 * comes from the MIB's UNITS or DESCRIPTION text (cited beside each profile's columns): PDUs
 * count energy in Wh, tenths of kWh or kWh, so a wrong scale is off by 10× or more, not by a
 * rounding. A negative reading is "not measured" (Sentry4 and HPE answer -1), never a value.
 */
export interface Metric {
  readonly oid: string;
  readonly scale: number;
  /** Appended after the outlet instance (Raritan's sensor tables index by sensor type). */
  readonly suffix?: string;
}

export interface Profile {
  /** The `profile =` value. */
  readonly name: string;
  readonly title: string;
  /** MIB module and objects this profile follows. */
  readonly mib: string;
  /** Firmware generations: which answer this profile, which another. */
  readonly firmware?: string;
  /** sysObjectID prefixes that identify the family (longest match wins; then the status column is probed). */
  readonly sysObjectIds: readonly string[];
  /** Instance suffix of outlet `n` on unit/PDU `unit` (daisy-chain position, tower, PDU id). */
  readonly instance: (n: number, unit: number) => string;
  /** Unit used when the device file gives none. */
  readonly defaultUnit: number;
  readonly status: { readonly oid: string; readonly values: Readonly<Record<number, OutletValue>> };
  /** A separate "command pending" column: one of `values` reads as switching. */
  readonly pending?: { readonly oid: string; readonly values: readonly number[] };
  readonly control: { readonly on: Command; readonly off: Command; readonly cycle?: Command };
  /** A scalar (full OID) holding the number of switched outlets; otherwise the status column is walked. */
  readonly outletCount?: string;
  /** Name columns, tried in order (the first that answers). */
  readonly names?: readonly string[];
  /**
   * Per-outlet metering columns. One family spans metered and switched-only models (an AP8641
   * meters each outlet, an AP7902B does not), so `open()` keeps the fields the PDU answers for
   * its first outlet; a PDU that answers none has no metering.
   */
  readonly metering?: { readonly amps?: Metric; readonly watts?: Metric; readonly energyWh?: Metric; readonly volts?: Metric };
  /**
   * The PDU's own model object (rPDUIdentModelNumber, tlpDeviceModel, pdu2Model…), a full OID
   * in which `{unit}` stands for the unit. It is the model shown: sysDescr names the management
   * card or its operating system (a Tripp Lite answers "Ubuntu 16.04.4 LTS …"), so sysDescr is
   * only kept as a detail.
   */
  readonly model?: string;
  /** The firmware version object, written as `model` is. */
  readonly firmwareVersion?: string;
}

/** `E.` in the tables of pdu-oids.md. */
export const E = '1.3.6.1.4.1';

/** Outlet index only (`.N`). */
export const byOutlet = (n: number): string => `${n}`;
/** Unit then outlet (`.U.N`). */
export const byUnit = (n: number, unit: number): string => `${unit}.${n}`;

/** A `model` / `firmwareVersion` OID with its `{unit}` filled in. */
export const scalarOid = (oid: string, unit: number): string => oid.replace('{unit}', String(unit));
