/** How each operation state looks: one colour per state, named in the legend. */
import type { OpState } from '../core/model.js';

export const STATE_STYLE: Record<OpState, { readonly label: string; readonly cls: string }> = {
  OK: { label: 'OK', cls: 'st-ok' },
  OFF: { label: 'off', cls: 'st-off' },
  SWITCHING_ON: { label: 'switching on', cls: 'st-switching' },
  SWITCHING_OFF: { label: 'switching off', cls: 'st-switching' },
  FAILED_TO_START: { label: 'failed to start', cls: 'st-failed' },
  FAILED_TO_STOP: { label: 'failed to stop', cls: 'st-failed' },
  PERMANENTLY_FAILED_TO_START: { label: 'permanently failed to start', cls: 'st-perm' },
  PERMANENTLY_FAILED_TO_STOP: { label: 'permanently failed to stop', cls: 'st-perm' },
  FORCED_ON: { label: 'forced on', cls: 'st-forced-on' },
  FORCED_OFF: { label: 'forced off', cls: 'st-forced-off' },
  NOT_SERVING: { label: 'powered, not serving', cls: 'st-not-serving' },
  UNKNOWN: { label: 'unknown', cls: 'st-unknown' },
};

/** The legend's entries: one per colour. */
export const LEGEND: readonly { readonly cls: string; readonly label: string }[] = [
  { cls: 'st-ok', label: 'OK (serving)' },
  { cls: 'st-off', label: 'off' },
  { cls: 'st-switching', label: 'switching' },
  { cls: 'st-failed', label: 'failed to start or stop' },
  { cls: 'st-not-serving', label: 'powered, not serving (no action)' },
  { cls: 'st-perm', label: 'permanently failed' },
  { cls: 'st-forced-on', label: 'forced on' },
  { cls: 'st-forced-off', label: 'forced off' },
  { cls: 'st-unknown', label: 'unknown (device unreachable)' },
];

export const ago = (iso: string | null | undefined): string => {
  if (!iso) return '–';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};
