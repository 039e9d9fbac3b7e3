/**
 * A stable fingerprint of a configuration value, to tell what a reload changed. Secrets count
 * by a hash of their value (a changed password is a changed device) and never appear in it.
 */
import { createHash } from 'node:crypto';
import { Secret } from './types.js';

export function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Secret) return `secret:${createHash('sha256').update(v.reveal()).digest('hex')}`;
    if (v instanceof Map) return { map: [...(v as Map<unknown, unknown>)] };
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
    return v;
  });
}
