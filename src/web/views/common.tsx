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

/**
 * An hourglass drawn with two paths, for "an action holds this server": it needs no font (the
 * emoji ⏳ is a missing-glyph box where no emoji font is installed). Usable in HTML and, with
 * `x`/`y`, inside another SVG (the graph's nodes).
 */
export function Hourglass({ size = 14, x, y, title }: { size?: number; x?: number; y?: number; title?: string }) {
  return (
    <svg class="icon hourglass" data-icon="hourglass" width={size} height={size} x={x} y={y} viewBox="0 0 16 16" aria-hidden={title ? undefined : 'true'} role={title ? 'img' : undefined}>
      {title && <title>{title}</title>}
      <path d="M3 1.5h10M3 14.5h10" class="frame" />
      <path d="M4.5 1.5c0 3.2 3.5 4.6 3.5 6.5s-3.5 3.3-3.5 6.5M11.5 1.5c0 3.2-3.5 4.6-3.5 6.5s3.5 3.3 3.5 6.5" class="glass" />
      <path d="M5.8 13.6c.4-1.6 1.5-2.3 2.2-2.8.7.5 1.8 1.2 2.2 2.8z M6.4 4.6h3.2c-.4.9-1 1.4-1.6 1.9-.6-.5-1.2-1-1.6-1.9z" class="sand" />
    </svg>
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
        <bdi>{a.origin}</bdi> · <bdi data-reason>{a.reason || 'no reason given'}</bdi> · <time>{new Date(a.requestedAt).toLocaleTimeString()}</time>
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
            <time>{new Date(s.at).toLocaleTimeString()}</time> {s.server ?? s.device ?? ''} <b>{s.op}</b> <bdi>{s.detail}</bdi>
            {s.ms !== undefined && <small> ({formatMs(s.ms)})</small>}
          </li>
        ))}
      </ol>
      {a.stepsDropped !== undefined && a.stepsDropped > 0 && (
        <p class="meta" data-steps-dropped={a.stepsDropped}>
          {a.stepsDropped} more steps not kept: for an old action the journal keeps only its failures and learned boot times.
        </p>
      )}
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
