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

/** A metering column: reading × scale = the unit named by the field (A, W, Wh, V). */
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
  readonly metering?: { readonly amps?: Metric; readonly watts?: Metric; readonly energyWh?: Metric; readonly volts?: Metric };
  /** Scalars (full OIDs) for `ockle devices probe` and the device info. */
  readonly model?: string;
  readonly firmwareVersion?: string;
}

/** `E.` in the tables of pdu-oids.md. */
export const E = '1.3.6.1.4.1';

/** Outlet index only (`.N`). */
export const byOutlet = (n: number): string => `${n}`;
/** Unit then outlet (`.U.N`). */
export const byUnit = (n: number, unit: number): string => `${unit}.${n}`;
