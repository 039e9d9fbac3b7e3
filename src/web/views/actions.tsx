/** The action journal: who, what, why, result, how long; filter by any of it; open one for its steps. */
import { useState } from 'preact/hooks';
import { can, useStore } from '../store.js';
import { ActionPanel, Thead, formatMs } from './common.js';

export function ActionsView() {
  const st = useStore();
  const [filter, setFilter] = useState('');
  const [status, setStatus] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const f = filter.trim().toLowerCase();
  const rows = st.actions.filter(
    (a) => (!status || a.status === status) && (!f || [a.id, a.kind, a.origin, a.reason, ...a.targets].some((x) => x.toLowerCase().includes(f))),
  );
  return (
    <section class="actions-view">
      <h2>Actions</h2>
      <div class="controls">
        <input type="search" placeholder="filter: server, who, why, kind" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} aria-label="Filter" />
        <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)} aria-label="Status">
          <option value="">any result</option>
          {['running', 'ok', 'failed', 'cancelled', 'interrupted'].map((x) => (
            <option value={x}>{x}</option>
          ))}
        </select>
        <small>
          {rows.length} of {st.actions.length}
        </small>
      </div>
      <table class="journal">
        <Thead cols={['When', 'What', 'Servers', 'Who', 'Why', 'Result', 'Took']} />
        <tbody>
          {rows.map((a) => (
            <tr data-action={a.id} class={open === a.id ? 'open' : ''} onClick={() => setOpen(open === a.id ? null : a.id)}>
              <td>{new Date(a.requestedAt).toLocaleString()}</td>
              <td>
                {a.kind}
                {a.force ? ' (forced)' : ''}
              </td>
              <td>{a.targets.join(', ')}</td>
              <td>
                <bdi>{a.origin}</bdi>
              </td>
              <td>
                <bdi>{a.reason}</bdi>
              </td>
              <td class={`status status-${a.status}`}>{a.status}</td>
              <td>{a.finishedAt ? formatMs(Date.parse(a.finishedAt) - Date.parse(a.requestedAt)) : '…'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && <ActionPanel id={open} canCancel={can(st.me, 'operator')} />}
    </section>
  );
}
