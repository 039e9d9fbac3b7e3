/**
 * One server: outlets with their read-back, controls, tests with their last result and latency,
 * the running action; and the switches. Every switch asks first, naming exactly what will be
 * switched: the sequencer's plan for on/off with dependencies, the server's own outlets when
 * forced or cycled.
 */
import { useState } from 'preact/hooks';
import type { ActionKind, ActionRecord, Plan } from '../../core/model.js';
import { api } from '../api.js';
import { ago, STATE_STYLE } from '../states.js';
import { can, refresh, useStore } from '../store.js';
import { ActionPanel, Confirm, Thead, formatMs } from './common.js';
import { OutletSwitch } from './outlet-switch.js';

type Ask = { kind: ActionKind; force: boolean; plan: Plan | null };

export function ServerView({ name }: { name: string }) {
  const st = useStore();
  const s = st.servers.find((x) => x.name === name);
  const [ask, setAsk] = useState<Ask | null>(null);
  const [lastAction, setLastAction] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!s) return <p>No server “{name}”. <a href="#/graph">Back to the lab</a></p>;
  const operator = can(st.me, 'operator');
  const devices = new Map(st.devices.map((d) => [d.id, d]));
  const open = async (kind: ActionKind, force: boolean): Promise<void> => {
    setError(null);
    try {
      const plan = !force && (kind === 'on' || kind === 'off') ? await api<Plan>('GET', `/api/plan?action=${kind}&targets=${encodeURIComponent(name)}`) : null;
      setAsk({ kind, force, plan });
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const run = async (reason: string): Promise<void> => {
    const r = await api<{ action: ActionRecord }>('POST', `/api/servers/${encodeURIComponent(name)}/actions`, { action: ask!.kind, force: ask!.force, reason });
    setLastAction(r.action.id);
    setAsk(null);
  };
  const actionId = s.actionId ?? lastAction;
  return (
    <section class="server-view" data-server={s.name} data-state={s.state}>
      <p>
        <a href="#/graph">← the lab</a>
      </p>
      <h2>
        {s.name} <span class={`pill ${STATE_STYLE[s.state].cls}`}>{STATE_STYLE[s.state].label}</span>
      </h2>
      <p class="reason">
        <bdi>{s.reason}</bdi>
      </p>
      {s.paused && (
        <p class="notice" data-paused>
          Paused for maintenance by <bdi>{s.paused.by}</bdi>
          {s.paused.reason ? <>: <bdi>{s.paused.reason}</bdi></> : ''} ({ago(s.paused.at)}): no keep-alive restart and no automatic action until resumed.
        </p>
      )}
      {s.description && (
        <p data-description>
          <bdi>{s.description}</bdi>
        </p>
      )}
      <p class="meta">
        {s.host && <>host {s.host} · </>}needs: {s.dependencies.join(', ') || 'nothing'} · needed by: {s.dependents.join(', ') || 'nothing'}
      </p>
      {operator ? (
        <div class="switches" role="group" aria-label="Switch">
          <button onClick={() => void open('on', false)}>On (with what it needs)</button>
          <button onClick={() => void open('off', false)}>Off (with what needs it)</button>
          <button onClick={() => void open('cycle', false)}>Power-cycle</button>
          <button class="danger" onClick={() => void open('on', true)}>Force on</button>
          <button class="danger" onClick={() => void open('off', true)}>Force off</button>
          <button
            data-maintenance
            onClick={() =>
              void api('POST', '/api/maintenance', s.paused ? { action: 'resume', targets: [name] } : { action: 'pause', targets: [name], reason: 'from the dashboard' })
                .then(() => refresh(['servers']))
                .catch((err: unknown) => setError((err as Error).message))
            }
          >
            {s.paused ? 'Resume' : 'Pause (maintenance)'}
          </button>
        </div>
      ) : (
        <p class="hint">Your token may look but not switch (role {st.me?.role}); an operator token switches.</p>
      )}
      {error && <p class="error">{error}</p>}
      {ask && (
        <Confirm
          title={`${ask.force ? 'Force ' : ''}${ask.kind} ${name}?`}
          confirmLabel={ask.plan && ask.plan.servers.length === 0 ? 'Nothing to do' : `${ask.kind === 'cycle' ? 'Power-cycle' : ask.force ? `Force ${ask.kind}` : `Switch ${ask.kind}`}`}
          danger={ask.force || ask.kind !== 'on'}
          onConfirm={run}
          onCancel={() => setAsk(null)}
        >
          {ask.plan ? (
            ask.plan.servers.length === 0 ? (
              <p>Every server involved is already {ask.kind}: nothing would be switched.</p>
            ) : (
              <div class="plan">
                <p>
                  This switches {ask.plan.servers.length} server{ask.plan.servers.length > 1 ? 's' : ''} {ask.kind}, in {ask.plan.waves.length} wave{ask.plan.waves.length > 1 ? 's' : ''}
                  {ask.plan.criticalPath.ms > 0 && <> (about {formatMs(ask.plan.criticalPath.ms)})</>}:
                </p>
                <ol class="waves">
                  {ask.plan.waves.map((w) => (
                    <li>{w.join(', ')}</li>
                  ))}
                </ol>
                {ask.plan.skipped.length > 0 && <p class="meta">Already {ask.kind}: {ask.plan.skipped.join(', ')}</p>}
              </div>
            )
          ) : (
            <p>
              This switches exactly {name}’s outlets ({s.outlets.map((o) => `${o.device}/${o.outlet}`).join(', ')})
              {ask.kind === 'cycle'
                ? ` off and on again, then waits for its tests${s.controls.length ? '; while it still serves, its OS is asked to shut down first' : ''}`
                : ' now'}
              {ask.force ? ', ignoring dependencies and without asking the OS to shut down first' : ''}.
            </p>
          )}
        </Confirm>
      )}
      {actionId && <ActionPanel id={actionId} canCancel={operator} />}
      <h3>Outlets</h3>
      <table>
        <Thead cols={operator ? ['Outlet', 'Device', 'State', 'Read-back', ''] : ['Outlet', 'Device', 'State', 'Read-back']} />
        <tbody>
          {s.outlets.map((o) => {
            const d = devices.get(o.device);
            return (
              <tr data-outlet={`${o.device}/${o.outlet}`}>
                <td>{o.name}</td>
                <td>
                  {o.device}/{o.outlet} {d?.reachable === false && <span class="error">unreachable</span>}
                </td>
                <td class={`power-${o.power}`}>{o.power}</td>
                <td>{o.readBack === 'assumed' ? <span title="The board cannot report its relays: this is the last state ockle wrote.">assumed</span> : 'real'}</td>
                {operator && (
                  <td>
                    <OutletSwitch device={o.device} outlet={o.outlet} powers={`${s.name} (${o.name})`} onStarted={setLastAction} />
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3>Tests</h3>
      {s.tests.length === 0 ? (
        <p class="meta">No tests: the server counts as serving once its outlets are on.</p>
      ) : (
        <table>
          <Thead cols={['Test', 'Type', 'Result', 'Latency', 'Detail', 'When']} />
          <tbody>
            {s.tests.map((t) => (
              <tr>
                <td>{t.name}</td>
                <td>{t.type}</td>
                <td class={`test-${t.result}`}>{t.result}</td>
                <td>{formatMs(t.latencyMs)}</td>
                <td>
                  <bdi>{t.detail}</bdi>
                </td>
                <td>{ago(t.at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Controls</h3>
      <p class="meta">{s.controls.length ? s.controls.map((c) => `${c.name} (${c.type})`).join(', ') : 'None: off cuts the power without asking the OS.'}</p>
    </section>
  );
}
