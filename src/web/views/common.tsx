/** Pieces several views share: the confirmation that names what will be switched, and a live action. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ActionRecord } from '../../core/model.js';
import { api, ApiError } from '../api.js';
import { useStore } from '../store.js';

export function Confirm(props: { title: string; children: ComponentChildren; confirmLabel: string; danger?: boolean; onConfirm: (reason: string) => Promise<void>; onCancel: () => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label={props.title}>
      <div class="modal-box">
        <h2>{props.title}</h2>
        {props.children}
        <label>
          Reason (kept in the journal)
          <input name="reason" value={reason} maxLength={200} onInput={(e) => setReason((e.target as HTMLInputElement).value)} placeholder="e.g. disk swap" />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="buttons">
          <button type="button" onClick={props.onCancel} disabled={busy}>
            Cancel
          </button>
          <button
            type="button"
            class={props.danger ? 'danger' : 'primary'}
            disabled={busy}
            onClick={() => {
              setBusy(true);
              props.onConfirm(reason).catch((err: unknown) => {
                setBusy(false);
                setError(err instanceof ApiError ? `${err.message}${err.hint ? ` — ${err.hint}` : ''}` : (err as Error).message);
              });
            }}
          >
            {props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

export const formatMs = (ms: number | undefined | null): string => (ms == null ? '–' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** One action, live: status, progress of a sequence, its steps; cancel while it runs (operators). */
export function ActionPanel({ id, canCancel }: { id: string; canCancel: boolean }) {
  const st = useStore();
  const [a, setA] = useState<ActionRecord | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<ActionRecord>('GET', `/api/actions/${encodeURIComponent(id)}`).then(setA, (err: unknown) => setError((err as Error).message));
  }, [id, st.actionTicks[id] ?? 0]);
  if (error) return <p class="error">{error}</p>;
  if (!a) return <p>Loading action {id}…</p>;
  const p = st.progress[id];
  return (
    <section class="action" data-action={a.id} data-status={a.status}>
      <h3>
        {a.kind} {a.targets.join(', ')} {a.force ? '(forced)' : ''} — <span class={`status status-${a.status}`}>{a.status}</span>
      </h3>
      <p class="meta">
        {a.origin} · {a.reason || 'no reason given'} · {new Date(a.requestedAt).toLocaleTimeString()}
        {a.finishedAt && ` · took ${formatMs(Date.parse(a.finishedAt) - Date.parse(a.requestedAt))}`}
      </p>
      {a.error && <p class="error">{a.error.message}</p>}
      {p && (
        <div class="progress" data-percent={p.last.percent}>
          <progress max={100} value={p.last.percent} /> {p.last.done}/{p.last.total} servers · wave {p.last.currentWave} of {p.last.waves}
          {p.last.active.length > 0 && <span> · now: {p.last.active.join(', ')}</span>}
        </div>
      )}
      {a.status === 'running' && canCancel && (
        <button class="danger" onClick={() => void api('POST', `/api/actions/${encodeURIComponent(a.id)}/cancel`).catch((err: unknown) => setError((err as Error).message))}>
          Cancel action
        </button>
      )}
      <ol class="steps">
        {a.steps.slice(-40).map((s) => (
          <li class={s.ok ? 'ok' : 'bad'}>
            <time>{new Date(s.at).toLocaleTimeString()}</time> {s.server ?? s.device ?? ''} <b>{s.op}</b> {s.detail}
            {s.ms !== undefined && <small> ({formatMs(s.ms)})</small>}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** A table head from column titles (an empty title for a column of buttons). */
export function Thead({ cols }: { cols: readonly string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th>{c}</th>
        ))}
      </tr>
    </thead>
  );
}
