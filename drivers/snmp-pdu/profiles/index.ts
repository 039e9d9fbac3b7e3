/**
 * Every built-in profile, and detection: the profiles whose sysObjectID prefix matches (longest
 * first) are candidates; the first whose status column answers wins. Without a matching
 * sysObjectID every profile is probed, in this order.
 */
import type { Profile } from '../profile.js';
import { apcRpdu } from './apc-rpdu.js';
import { apcRpdu2 } from './apc-rpdu2.js';
import { apcSpdu } from './apc-spdu.js';
import { cyberpower } from './cyberpower.js';
import { eatonEpdu } from './eaton-epdu.js';
import { hpeEpdu } from './hpe-epdu.js';
import { raritanPx1 } from './raritan-px1.js';
import { raritanPx2 } from './raritan-px2.js';
import { sentry3 } from './sentry3.js';
import { sentry4 } from './sentry4.js';
import { tripplite, tripplitePa15 } from './tripplite.js';

export const PROFILES: readonly Profile[] = [
  apcRpdu,
  apcRpdu2,
  apcSpdu,
  raritanPx2,
  raritanPx1,
  eatonEpdu,
  hpeEpdu,
  cyberpower,
  sentry4,
  sentry3,
  tripplite,
  tripplitePa15,
];

export const PROFILE_NAMES: readonly string[] = PROFILES.map((p) => p.name);

export function profileByName(name: string): Profile | undefined {
  return PROFILES.find((p) => p.name === name);
}

/** Profiles to probe for a sysObjectID, best first. */
export function candidates(sysObjectId: string | undefined): Profile[] {
  const id = sysObjectId?.replace(/^\./, '');
  if (!id) return [...PROFILES];
  const scored = PROFILES.map((p) => ({
    p,
    len: Math.max(-1, ...p.sysObjectIds.filter((pre) => id === pre || id.startsWith(`${pre}.`)).map((pre) => pre.length)),
  })).filter((x) => x.len >= 0);
  // Longest matching prefix first; ties keep the table order (apc-rpdu before apc-rpdu2).
  scored.sort((a, b) => b.len - a.len);
  const matched = scored.map((x) => x.p);
  return [...matched, ...PROFILES.filter((p) => !matched.includes(p))];
}
