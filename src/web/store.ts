/**
 * What the dashboard knows, kept fresh from the event stream: a state change is applied at
 * once (so colours follow within a frame), and a debounced re-read of the lists catches
 * everything else (and whatever was missed while the stream was down).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ActionProgress, ActionRecord, DeviceStatus, Plan, RemoteServerStatus, ServerStatus, TreeView, UpsStatus } from '../core/model.js';
import { api, forgetToken, onUnauthorized, setToken, streamEvents, type StreamEvent } from './api.js';

export type Role = 'viewer' | 'operator' | 'admin';
export interface Me {
  readonly name: string;
  readonly role: Role;
}
export interface PluginInfo {
  readonly name: string;
  readonly description?: string;
  readonly where: string;
  readonly state: string;
  readonly lastError: string | null;
  /** Bundled with ockle, or installed beside it. */
  readonly source?: 'bundled' | 'installed';
  /** What a running plugin reports of itself (`ctx.status`), e.g. the mqtt plugin's connection and last error. */
  readonly status?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * The Sequence view's choices, its plan and the action it started. Kept here, not in the view:
 * the view is unmounted when the user goes to another tab, and with it went the id of the running
 * action, so coming back showed neither the plan's chips nor the progress (still in `progress`).
 */
export interface SequenceDraft {
  readonly kind: 'on' | 'off';
  readonly picked: readonly string[];
  readonly plan: Plan | null;
  readonly actionId: string | null;
}
const NO_SEQUENCE: SequenceDraft = { kind: 'on', picked: [], plan: null, actionId: null };

export interface State {
  me: Me | null;
  servers: ServerStatus[];
  devices: DeviceStatus[];
  tree: TreeView | null;
  actions: ActionRecord[];
  plugins: PluginInfo[];
  /** Every UPS, by name; a `ups.changed` replaces one at once. */
  ups: UpsStatus[];
  /** Bumped on each `ups.stage`, so the UPS view re-reads its plan. */
  upsTicks: number;
  /** Latest progress of each sequenced action, and every server event seen, in order. */
  progress: Record<string, { last: ActionProgress; servers: Record<string, ActionProgress['event']> }>;
  live: 'connecting' | 'live' | 'down';
  /** Shown on the sign-in page (why the user was signed out). */
  notice: string;
  liveWhy: string;
  /** Per action id: bumped on each event about it, so an open action re-reads its steps. */
  actionTicks: Record<string, number>;
  sequence: SequenceDraft;
}

const state: State = { me: null, servers: [], devices: [], tree: null, actions: [], plugins: [], ups: [], upsTicks: 0, progress: {}, live: 'connecting', notice: '', liveWhy: '', actionTicks: {}, sequence: NO_SEQUENCE };
const listeners = new Set<() => void>();
const notify = (): void => {
  for (const l of listeners) l();
};
export const getState = (): State => state;

/** Changes the Sequence view's draft (see SequenceDraft) and re-renders. */
export function setSequence(patch: Partial<SequenceDraft>): void {
  state.sequence = { ...state.sequence, ...patch };
  notify();
}

/** Re-renders the component whenever the store changes. */
export function useStore(): State {
  const [, force] = useState(0);
  useEffect(() => {
    const l = (): void => force((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state;
}

export type Resource = 'servers' | 'devices' | 'tree' | 'actions' | 'plugins' | 'ups';
const LOADERS: Record<Resource, () => Promise<Partial<State>>> = {
  servers: async () => ({ servers: (await api<{ servers: ServerStatus[] }>('GET', '/api/servers')).servers }),
  devices: async () => ({ devices: (await api<{ devices: DeviceStatus[] }>('GET', '/api/devices')).devices }),
  tree: async () => ({ tree: await api<TreeView>('GET', '/api/tree') }),
  actions: async () => ({ actions: (await api<{ actions: ActionRecord[] }>('GET', '/api/actions?limit=200')).actions }),
  plugins: async () => ({ plugins: (await api<{ plugins: PluginInfo[] }>('GET', '/api/plugins')).plugins }),
  ups: async () => ({ ups: (await api<{ ups: UpsStatus[] }>('GET', '/api/ups')).ups }),
};
const ALL = Object.keys(LOADERS) as Resource[];

/** Re-reads the named lists (all by default) and re-renders once. */
export async function refresh(what: readonly Resource[] = ALL): Promise<void> {
  const parts = await Promise.all(what.map((r) => LOADERS[r]()));
  Object.assign(state, ...parts);
  notify();
  upsWhileAway();
}

/**
 * Which lists an event can change. Only those are re-read, each at most every 250 ms (metering
 * every 5 s): a dashboard left open on a Pi costs a few requests per change, not a poll loop.
 */
function affected(event: string): Resource[] {
  if (event === 'server.changed' || event === 'test.changed') return ['servers'];
  if (event === 'outlet.changed' || event === 'device.reachable' || event === 'device.unreachable') return ['servers', 'devices'];
  if (event === 'device.metered') return ['devices'];
  if (event.startsWith('action.')) return event === 'action.progressed' || event === 'action.progress' ? [] : ['actions', 'servers'];
  if (event === 'plugin.changed') return ['plugins'];
  // A stage's records are actions; `ups.changed` is applied as it comes (apply below).
  if (event === 'ups.stage') return ['ups', 'actions'];
  if (event === 'config.reloaded') return ALL;
  // A server waiting on another gateway says so in its reason, which changes with that server.
  if (event === 'remote.changed') return ['servers'];
  return [];
}
const due = new Map<Resource, ReturnType<typeof setTimeout>>();
function refreshSoon(what: readonly Resource[]): void {
  for (const r of what) {
    if (due.has(r)) continue;
    due.set(
      r,
      setTimeout(() => {
        due.delete(r);
        refresh([r]).catch(() => undefined);
      }, r === 'devices' ? 1000 : 250),
    );
  }
}

/** The id of the action an event is about, if any (views re-read an open action on these). */
export function actionOf(e: StreamEvent): string | null {
  const d = e.data as { actionId?: string; action?: { id: string } };
  return d.actionId ?? d.action?.id ?? null;
}

function apply(e: StreamEvent): void {
  const id = actionOf(e);
  if (id) state.actionTicks = { ...state.actionTicks, [id]: (state.actionTicks[id] ?? 0) + 1 };
  if (e.event === 'server.changed') {
    const p = e.data as { server: string; state: ServerStatus['state']; reason: string };
    state.servers = state.servers.map((s) => (s.name === p.server ? { ...s, state: p.state, reason: p.reason } : s));
    if (state.tree) state.tree = { ...state.tree, nodes: state.tree.nodes.map((n) => (n.name === p.server ? { ...n, state: p.state } : n)) };
  } else if (e.event === 'action.progress') {
    const p = e.data as ActionProgress;
    const prev = state.progress[p.actionId];
    state.progress = { ...state.progress, [p.actionId]: { last: p, servers: { ...prev?.servers, [p.server]: p.event } } };
  } else if (e.event === 'action.started' || e.event === 'action.finished') {
    const a = (e.data as { action: ActionRecord }).action;
    state.actions = [a, ...state.actions.filter((x) => x.id !== a.id)];
  } else if (e.event === 'ups.changed') {
    const u = (e.data as { ups: UpsStatus }).ups;
    state.ups = [...state.ups.filter((x) => x.name !== u.name), u].sort((a, b) => a.name.localeCompare(b.name));
  } else if (e.event === 'ups.stage') {
    state.upsTicks++;
  } else if (e.event === 'remote.changed' && state.tree) {
    // A server of another gateway (federation): its state as the broker tells it, at once.
    const r = (e.data as { server: RemoteServerStatus }).server;
    const known = state.tree.remote.some((x) => x.ref === r.ref);
    state.tree = { ...state.tree, remote: known ? state.tree.remote.map((x) => (x.ref === r.ref ? r : x)) : [...state.tree.remote, r] };
  }
  notify();
  upsWhileAway();
  refreshSoon(affected(e.event));
}

/**
 * While a UPS is away from normal, its words ("on battery for 12 s; tier 1 in 18 s") age between
 * two `ups.changed` (the monitor emits a change, not a clock): re-read /api/ups every 2 s then,
 * and not at all while every UPS is normal.
 */
let upsClock: ReturnType<typeof setInterval> | null = null;
function upsWhileAway(): void {
  const away = state.me !== null && state.ups.some((u) => u.stage !== 'normal' || u.event !== null);
  if (away && !upsClock) upsClock = setInterval(() => void refresh(['ups']).catch(() => undefined), 2000);
  else if (!away && upsClock) {
    clearInterval(upsClock);
    upsClock = null;
  }
}

let stream: AbortController | null = null;
export async function connect(me: Me): Promise<void> {
  state.me = me;
  state.notice = '';
  await refresh();
  stream?.abort();
  stream = new AbortController();
  void streamEvents(
    apply,
    () => {
      state.live = 'live';
      state.liveWhy = '';
      // Whatever happened while the stream was down: read everything again.
      refreshSoon(ALL);
    },
    (why) => {
      state.live = 'down';
      state.liveWhy = why;
      notify();
    },
    stream.signal,
  );
}
export function disconnect(notice = ''): void {
  stream?.abort();
  stream = null;
  state.me = null;
  upsWhileAway();
  state.sequence = NO_SEQUENCE;
  state.notice = notice;
  notify();
}

onUnauthorized(() => {
  if (!state.me) return;
  forgetToken();
  setToken(null);
  disconnect('The daemon no longer accepts your token (it may have been removed from ockle.ini). Sign in again.');
});

/** Role check as the API does it: viewer < operator < admin. */
export const can = (me: Me | null, role: Role): boolean => !!me && { viewer: 1, operator: 2, admin: 3 }[me.role] >= { viewer: 1, operator: 2, admin: 3 }[role];
