/**
 * What the dashboard knows, kept fresh from the event stream: a state change is applied at
 * once (so colours follow within a frame), and a debounced re-read of the lists catches
 * everything else (and whatever was missed while the stream was down).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ActionProgress, ActionRecord, DeviceStatus, ServerStatus, TreeView } from '../core/model.js';
import { api, streamEvents, type StreamEvent } from './api.js';

export type Role = 'viewer' | 'operator' | 'admin';
export interface Me {
  readonly name: string;
  readonly role: Role;
}
export interface PluginInfo {
  readonly name: string;
  readonly where: string;
  readonly state: string;
  readonly lastError: string | null;
}

export interface State {
  me: Me | null;
  servers: ServerStatus[];
  devices: DeviceStatus[];
  tree: TreeView | null;
  actions: ActionRecord[];
  plugins: PluginInfo[];
  /** Latest progress of each sequenced action, and every server event seen, in order. */
  progress: Record<string, { last: ActionProgress; servers: Record<string, ActionProgress['event']> }>;
  live: 'connecting' | 'live' | 'down';
  liveWhy: string;
  /** Bumped on every event, for views that re-read something of their own (an open action). */
  tick: number;
}

const state: State = { me: null, servers: [], devices: [], tree: null, actions: [], plugins: [], progress: {}, live: 'connecting', liveWhy: '', tick: 0 };
const listeners = new Set<() => void>();
const notify = (): void => {
  for (const l of listeners) l();
};
export const getState = (): State => state;

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

export async function refresh(): Promise<void> {
  const [servers, devices, tree, actions, plugins] = await Promise.all([
    api<{ servers: ServerStatus[] }>('GET', '/api/servers'),
    api<{ devices: DeviceStatus[] }>('GET', '/api/devices'),
    api<TreeView>('GET', '/api/tree'),
    api<{ actions: ActionRecord[] }>('GET', '/api/actions?limit=200'),
    api<{ plugins: PluginInfo[] }>('GET', '/api/plugins'),
  ]);
  Object.assign(state, { servers: servers.servers, devices: devices.devices, tree, actions: actions.actions, plugins: plugins.plugins });
  notify();
}

let timer: ReturnType<typeof setTimeout> | null = null;
function refreshSoon(): void {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    refresh().catch(() => undefined);
  }, 250);
}

function apply(e: StreamEvent): void {
  state.tick++;
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
  }
  notify();
  refreshSoon();
}

let stream: AbortController | null = null;
export async function connect(me: Me): Promise<void> {
  state.me = me;
  await refresh();
  stream?.abort();
  stream = new AbortController();
  void streamEvents(
    apply,
    () => {
      state.live = 'live';
      state.liveWhy = '';
      refreshSoon();
    },
    (why) => {
      state.live = 'down';
      state.liveWhy = why;
      notify();
    },
    stream.signal,
  );
}
export function disconnect(): void {
  stream?.abort();
  stream = null;
  state.me = null;
  notify();
}

/** Role check as the API does it: viewer < operator < admin. */
export const can = (me: Me | null, role: Role): boolean => !!me && { viewer: 1, operator: 2, admin: 3 }[me.role] >= { viewer: 1, operator: 2, admin: 3 }[role];
