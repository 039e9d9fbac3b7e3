/**
 * The lab at a glance: the dependency graph laid out by dagre (dependencies above the servers
 * that need them), each server coloured by its state, with badges for an unreachable device, a
 * relay whose state is assumed, and a running action (an hourglass drawn in SVG: no emoji font
 * needed). Click a server for its detail. Servers of other gateways (federation, docs/mqtt.md)
 * are drawn dashed with their gateway's name, in the state the broker tells.
 */
import dagre from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';
import type { OpState, RemoteServerStatus, ServerStatus } from '../../core/model.js';
import { LEGEND, STATE_STYLE } from '../states.js';
import { useStore } from '../store.js';
import { Hourglass } from './common.js';

const W = 176;
const H = 58;

export function layout(nodes: readonly string[], edges: readonly { from: string; to: string }[]) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 56, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n, { width: W, height: H });
  // An edge runs from the dependency to the server that needs it: dependencies on top.
  for (const e of edges) g.setEdge(e.to, e.from);
  dagre.layout(g);
  const graph = g.graph();
  return {
    width: graph.width ?? 0,
    height: graph.height ?? 0,
    nodes: new Map(nodes.map((n) => [n, g.node(n) as { x: number; y: number }])),
    edges: g.edges().map((e) => ({ from: e.v, to: e.w, points: (g.edge(e) as { points: { x: number; y: number }[] }).points })),
  };
}

/** The text badges of a server; a running action is the hourglass icon, drawn apart. */
function badges(s: ServerStatus, unreachable: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const down = [...new Set(s.outlets.filter((o) => unreachable.has(o.device)).map((o) => o.device))];
  if (down.length) out.push(`⚠ ${down.join(', ')} unreachable`);
  if (s.outlets.some((o) => o.readBack === 'assumed')) out.push('assumed state');
  return out;
}

/** The style of a remote server's state (another gateway's words; anything else is unknown). */
const remoteStyle = (r: RemoteServerStatus) => STATE_STYLE[(r.state in STATE_STYLE ? r.state : 'UNKNOWN') as OpState];

export function GraphView() {
  const st = useStore();
  const local = st.tree?.nodes.map((n) => n.name) ?? [];
  const remote = st.tree?.remote ?? [];
  const names = [...local, ...remote.map((r) => r.ref)];
  const edges = [
    ...(st.tree?.edges ?? []),
    ...remote.flatMap((r) => [...r.neededBy.map((n) => ({ from: n, to: r.ref })), ...r.dependsOnHere.map((n) => ({ from: r.ref, to: n }))]),
  ];
  const remoteRefs = new Set(remote.map((r) => r.ref));
  const key = JSON.stringify([names, edges]);
  const l = useMemo(() => layout(names, edges), [key]);
  const unreachable = new Set(st.devices.filter((d) => d.reachable === false).map((d) => d.id));
  const byName = new Map(st.servers.map((s) => [s.name, s]));
  const counts = new Map<string, number>();
  for (const s of st.servers) counts.set(STATE_STYLE[s.state].cls, (counts.get(STATE_STYLE[s.state].cls) ?? 0) + 1);
  return (
    <section class="graph-view">
      <div class="graph-scroll">
        <svg class="graph" style={{ maxWidth: `${l.width}px` }} viewBox={`0 0 ${l.width} ${l.height}`} role="img" aria-label="Server dependency graph">
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
            </marker>
          </defs>
          {l.edges.map((e) => (
            <polyline class={`edge${remoteRefs.has(e.from) || remoteRefs.has(e.to) ? ' remote-edge' : ''}`} points={e.points.map((p) => `${p.x},${p.y}`).join(' ')} marker-end="url(#arrow)" />
          ))}
          {remote.map((r) => {
            const p = l.nodes.get(r.ref)!;
            const style = remoteStyle(r);
            return (
              <g class={`node remote ${style.cls}`} data-remote={r.ref} data-state={r.state} transform={`translate(${p.x - W / 2},${p.y - H / 2})`}>
                <title>{`${r.ref} (gateway ${r.gateway}): ${r.state}${r.reason ? ` — ${r.reason}` : ''}`}</title>
                <rect width={W} height={H} rx="8" />
                <text x="10" y="21" class="name">
                  {r.server}
                </text>
                <text x="10" y="38" class="state">
                  {style.label}
                </text>
                <text x="10" y="52" class="badge">
                  gateway {r.gateway}
                </text>
              </g>
            );
          })}
          {local.map((n) => {
            const p = l.nodes.get(n)!;
            const s = byName.get(n);
            const state = s?.state ?? 'UNKNOWN';
            const b = s ? badges(s, unreachable) : [];
            return (
              <a href={`#/server/${encodeURIComponent(n)}`} class="node-link" data-server={n} data-state={state}>
                <g class={`node ${STATE_STYLE[state].cls}${s?.outlets.some((o) => o.readBack === 'assumed') ? ' assumed' : ''}`} transform={`translate(${p.x - W / 2},${p.y - H / 2})`}>
                  <title>{`${n}: ${STATE_STYLE[state].label}${s ? ` — ${s.reason}` : ''}`}</title>
                  <rect width={W} height={H} rx="8" />
                  <text x="10" y="21" class="name">
                    {n}
                  </text>
                  <text x="10" y="38" class="state">
                    {STATE_STYLE[state].label}
                  </text>
                  {s?.actionId && <Hourglass x={W - 24} y={8} size={16} title={`action ${s.actionId} running`} />}
                  {b.length > 0 && (
                    <text x="10" y="52" class="badge">
                      {b.join(' · ')}
                    </text>
                  )}
                </g>
              </a>
            );
          })}
        </svg>
      </div>
      <ol class="server-list" aria-label="Servers in dependency order">
        {(st.tree?.order ?? []).map((n) => {
          const s = byName.get(n);
          return (
            s && (
              <li>
                <a href={`#/server/${encodeURIComponent(n)}`}>
                  <span class={`pill ${STATE_STYLE[s.state].cls}`}>{STATE_STYLE[s.state].label}</span> {n}
                </a>{' '}
                <small class="meta">
                  {s.actionId && (
                    <>
                      <Hourglass /> action running{' · '}
                    </>
                  )}
                  <bdi>{badges(s, unreachable).join(' · ') || s.reason}</bdi>
                </small>
              </li>
            )
          );
        })}
      </ol>
      <ul class="legend" aria-label="Legend">
        {LEGEND.map((e) => (
          <li>
            <span class={`swatch ${e.cls}`} /> {e.label} {counts.get(e.cls) ? <b>{counts.get(e.cls)}</b> : null}
          </li>
        ))}
        <li>
          <span class="swatch assumed-swatch" /> dashed: relay state assumed (board cannot report)
        </li>
        {remote.length > 0 && (
          <li>
            <span class="swatch remote-swatch" /> dotted: a server of another gateway, as the broker tells it
          </li>
        )}
      </ul>
      <ul class="device-chips" aria-label="Devices">
        {st.devices.map((d) => (
          <li class={d.reachable === false ? 'down' : ''} data-device={d.id}>
            {d.reachable === false ? '⚠' : '●'} {d.id} {d.readBack === 'assumed' ? <small>(assumed)</small> : null}
            {d.lastPollMs !== null && <small> {d.lastPollMs} ms</small>}
          </li>
        ))}
      </ul>
      <p class="hint">Click a server to see its outlets and tests and to switch it. Arrows point from what a server needs to the server.</p>
    </section>
  );
}
