/**
 * Sequences: all on / all off, or chosen servers with what they need (on) or what needs them
 * (off). The plan comes first (waves, order, expected time); once running, every server shows
 * where it is, wave by wave, live from the action's progress events; cancel stops it. The
 * choices, the plan and the running action live in the store, so leaving the tab and coming back
 * shows the progress again; with none of its own (a reload, a sequence started elsewhere), the
 * view shows the sequence that is running, if any.
 */
import { useState } from 'preact/hooks';
import type { ActionRecord, Plan } from '../../core/model.js';
import { api } from '../api.js';
import { STATE_STYLE } from '../states.js';
import { can, setSequence, useStore } from '../store.js';
import { ActionPanel, Confirm, formatMs } from './common.js';

export function SequenceView() {
  const st = useStore();
  const { kind, picked, plan, actionId } = st.sequence;
  const setKind = (k: 'on' | 'off'): void => setSequence({ kind: k });
  const setPicked = (p: readonly string[]): void => setSequence({ picked: p });
  const setPlan = (p: Plan | null): void => setSequence({ plan: p });
  const setActionId = (id: string | null): void => setSequence({ actionId: id });
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // A sequence running without this view having started it (a reload, the CLI, another browser).
  const running = actionId ? undefined : st.actions.find((a) => a.status === 'running' && !a.force && (a.kind === 'on' || a.kind === 'off'));
  const shown = actionId ?? running?.id ?? null;
  const operator = can(st.me, 'operator');
  const all = picked.length === 0;
  const query = `action=${kind}&${all ? 'all=true' : `targets=${picked.map(encodeURIComponent).join(',')}`}`;
  const showPlan = async (): Promise<void> => {
    setError(null);
    try {
      setPlan(await api<Plan>('GET', `/api/plan?${query}`));
      setActionId(null);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const run = async (reason: string): Promise<void> => {
    const r = await api<{ action: ActionRecord }>('POST', '/api/actions', { action: kind, ...(all ? { all: true } : { targets: picked }), reason });
    setActionId(r.action.id);
    setAsking(false);
  };
  const progress = actionId ? st.progress[actionId] : undefined;
  const byName = new Map(st.servers.map((s) => [s.name, s]));
  return (
    <section class="sequence-view">
      <h2>Sequence</h2>
      <div class="controls">
        <label>
          <input type="radio" name="kind" checked={kind === 'on'} onChange={() => (setKind('on'), setPlan(null))} /> on (dependencies first)
        </label>
        <label>
          <input type="radio" name="kind" checked={kind === 'off'} onChange={() => (setKind('off'), setPlan(null))} /> off (dependents first)
        </label>
      </div>
      <fieldset class="targets">
        <legend>Servers ({all ? 'none picked: the whole lab' : `${picked.length} picked, with their ${kind === 'on' ? 'dependencies' : 'dependents'}`})</legend>
        {st.tree?.order.map((n) => (
          <label>
            <input
              type="checkbox"
              name="target"
              value={n}
              checked={picked.includes(n)}
              onChange={(e) => {
                setPicked((e.target as HTMLInputElement).checked ? [...picked, n] : picked.filter((x) => x !== n));
                setPlan(null);
              }}
            />{' '}
            {n}
          </label>
        ))}
      </fieldset>
      <button onClick={() => void showPlan()}>Show the plan</button>
      {error && <p class="error">{error}</p>}
      {plan && (
        <div class="plan" data-servers={plan.servers.length}>
          <p>
            {plan.servers.length === 0
              ? `Nothing to switch: every server involved is already ${kind}.`
              : `${plan.servers.length} server${plan.servers.length > 1 ? 's' : ''} ${kind} in ${plan.waves.length} wave${plan.waves.length > 1 ? 's' : ''}; the longest chain (${plan.criticalPath.servers.join(' → ')}) takes ${plan.expected.every((e) => e.source === 'learned') ? 'about' : 'at most'} ${formatMs(plan.criticalPath.ms)}${plan.expected.every((e) => e.source === 'learned') ? ' (learned from past runs)' : ' (from the timeouts, until ockle has seen these servers switch)'}.`}
          </p>
          <ol class="waves">
            {plan.waves.map((w, i) => (
              <li data-wave={i + 1}>
                <b>Wave {i + 1}</b>{' '}
                {w.map((n) => {
                  const ev = progress?.servers[n];
                  const s = byName.get(n);
                  return (
                    <span class={`chip ${s ? STATE_STYLE[s.state].cls : ''}`} data-server={n} data-event={ev ?? 'waiting'}>
                      {n} <small>{ev ?? (actionId ? 'waiting' : s ? STATE_STYLE[s.state].label : '')}</small>
                    </span>
                  );
                })}
              </li>
            ))}
          </ol>
          {plan.skipped.length > 0 && <p class="meta">Already {kind}: {plan.skipped.join(', ')}</p>}
          {operator && plan.servers.length > 0 && !actionId && (
            <button class={kind === 'off' ? 'danger' : 'primary'} onClick={() => setAsking(true)}>
              Run: {kind} {all ? 'the whole lab' : picked.join(', ')}
            </button>
          )}
          {!operator && <p class="hint">Your token may look but not switch (role {st.me?.role}).</p>}
        </div>
      )}
      {asking && plan && (
        <Confirm title={`Switch ${plan.servers.length} servers ${kind}?`} confirmLabel={`Switch ${kind}`} danger={kind === 'off'} onConfirm={run} onCancel={() => setAsking(false)}>
          <p>
            In this order, wave by wave: {plan.waves.map((w) => w.join(', ')).join(' → ')}.
          </p>
        </Confirm>
      )}
      {shown && <ActionPanel id={shown} canCancel={operator} />}
    </section>
  );
}
