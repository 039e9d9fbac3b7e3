/**
 * Read-side views of the state for the faces: a server's status, every device's status, the
 * dependency graph. Pure functions of the state: nothing here reads a device or changes a slot.
 */
import { UnknownServerError } from '../errors.js';
import type { DeviceStatus, RemoteServerStatus, ServerStatus, TreeView } from './model.js';
import type { RemotePort } from './remote.js';
import type { LabState } from './state.js';

export function serverView(state: LabState, name: string, paused: ServerStatus['paused'] = null, remote?: Pick<RemotePort, 'dependencies' | 'dependents'> & { waitingOf(server: string): string | null }): ServerStatus {
  const slot = state.servers.get(name);
  if (!slot) throw new UnknownServerError(name, [...state.servers.keys()]);
  const s = slot.s;
  return {
    name: s.name,
    description: s.description,
    host: s.host ?? null,
    state: slot.state,
    // A server held by a sequence that waits on another gateway says on what, and why.
    reason: ((w) => (w ? `${slot.reason}; ${w}` : slot.reason))(remote?.waitingOf(name) ?? null),
    outlets: s.outlets.map((o) => {
      const d = state.devices.get(o.device);
      return { name: o.name, device: o.device, outlet: o.outlet, power: d?.power[o.outlet - 1] ?? 'unknown', readBack: d?.d.device.caps.readBack ?? 'real' };
    }),
    controls: s.controls.map((c) => ({ name: c.name, type: c.type })),
    tests: s.tests.map((t, i) => {
      const r = slot.tests[i]!;
      return { name: t.name, type: t.type, result: r.result, detail: r.detail, latencyMs: r.latencyMs, at: r.at === null ? null : new Date(r.at).toISOString() };
    }),
    dependencies: state.tree.dependencies(name),
    dependents: state.tree.dependents(name),
    remoteDependencies: remote?.dependencies(name) ?? [],
    remoteDependents: remote?.dependents(name) ?? [],
    actionId: slot.actionId,
    paused,
  };
}

export function treeView(state: LabState, remote: readonly RemoteServerStatus[] = []): TreeView {
  const order = state.tree.order();
  return {
    nodes: order.map((n) => ({ name: n, state: state.servers.get(n)!.state })),
    edges: order.flatMap((n) => state.tree.dependencies(n).map((d) => ({ from: n, to: d }))),
    order,
    remote,
  };
}

export function devicesView(state: LabState): DeviceStatus[] {
  return [...state.devices.values()]
    .sort((a, b) => a.d.id.localeCompare(b.d.id))
    .map((slot) => {
      const info = slot.d.device.info?.() ?? {};
      const names = info.outletNames;
      const bound = state.bindings.get(slot.d.id);
      return {
        id: slot.d.id,
        type: slot.d.type,
        description: slot.d.description,
        reachable: slot.reachable,
        error: slot.error,
        readBack: slot.d.device.caps.readBack,
        outletCount: slot.d.device.outletCount,
        outlets: slot.power.map((power, i) => {
          const b = bound?.get(i + 1);
          return { outlet: i + 1, power, name: names?.get(i + 1) ?? null, boundTo: b ? `${b.server}/${b.section}` : null, reading: slot.readings.get(i + 1) ?? null };
        }),
        model: info.model ?? null,
        firmware: info.firmware ?? null,
        details: info.details ?? {},
        lastPollAt: slot.lastPollAt === null ? null : new Date(slot.lastPollAt).toISOString(),
        lastPollMs: slot.lastPollMs,
      };
    });
}

/** Devices that did not answer their last read. */
export function unreachableDevices(state: LabState): string[] {
  return [...state.devices.values()].filter((d) => d.reachable === false).map((d) => d.d.id);
}
