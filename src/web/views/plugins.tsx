/**
 * Plugins: every available plugin (bundled or installed beside ockle) with its state and last
 * error; its settings template with the values in effect (secrets masked); the commands plugins
 * registered, with their arguments. Admins enable, disable (ockle.ini is edited, then a reload
 * applies it to that plugin alone) and restart.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { can, refresh, useStore, type PluginInfo } from '../store.js';
import { Thead } from './common.js';

interface Setting {
  readonly key: string;
  readonly describe: string;
  readonly help: string;
  readonly required: boolean;
  readonly default: string | null;
  readonly value: string | null;
  readonly line: number | null;
}
interface Detail {
  readonly name: string;
  readonly source: 'bundled' | 'installed';
  readonly version: string;
  readonly file?: string;
  readonly enabled: boolean;
  readonly settings: readonly Setting[];
}
interface Command {
  readonly name: string;
  readonly description: string;
  readonly role: string;
  readonly params?: Readonly<Record<string, { readonly type: string; readonly help?: string; readonly required?: boolean }>>;
}

const why = (err: unknown): string => (err instanceof ApiError ? `${err.message}${err.hint ? ` ${err.hint}` : ''}` : (err as Error).message);

function Settings({ name }: { name: string }) {
  const [d, setD] = useState<Detail | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api<{ plugin: Detail }>('GET', `/api/plugins/${encodeURIComponent(name)}`)
      .then((r) => setD(r.plugin))
      .catch((err: unknown) => setError(why(err)));
  }, [name]);
  if (error) return <p class="error">{error}</p>;
  if (!d) return <p class="meta">loading…</p>;
  return (
    <div class="plugin-settings" data-settings={name}>
      <p class="meta">
        {d.source === 'installed' ? `installed, version ${d.version}${d.file ? ` (${d.file})` : ''}` : `bundled with ockle ${d.version}`} · settings in
        ockle.ini [plugins.{name}]
      </p>
      {d.settings.length === 0 ? (
        <p class="meta">No settings.</p>
      ) : (
        <table>
          <Thead cols={['Setting', 'Value', 'Default', 'Type', 'Help']} />
          <tbody>
            {d.settings.map((s) => (
              <tr data-key={s.key}>
                <td>
                  <code>{s.key}</code>
                  {s.required && <small> required</small>}
                </td>
                <td>{s.value === null ? <span class="meta">default</span> : <code title={s.line === null ? '' : `ockle.ini line ${s.line}`}>{s.value}</code>}</td>
                <td>{s.default === null ? '' : <code>{s.default}</code>}</td>
                <td class="meta">{s.describe}</td>
                <td>{s.help}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Row({ p, admin, onError }: { p: PluginInfo; admin: boolean; onError: (m: string) => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const run = (path: string): void => {
    setBusy(true);
    onError('');
    api('POST', path)
      .then(() => refresh(['plugins']))
      .catch((err: unknown) => onError(`${p.name}: ${why(err)}`))
      .finally(() => setBusy(false));
  };
  const enabled = p.state !== 'disabled';
  return (
    <>
      <tr data-plugin={p.name} data-state={p.state}>
        <td>{p.name}</td>
        <td class="meta">{p.source ?? ''}</td>
        <td>{p.where}</td>
        <td class={p.state === 'running' ? 'status-ok' : p.state === 'failed' || p.state === 'backoff' ? 'status-failed' : 'meta'}>{p.state}</td>
        <td>
          <bdi>{p.lastError ?? p.description ?? ''}</bdi>
          {p.status && (
            <div class="meta" data-plugin-status>
              {Object.entries(p.status)
                .filter(([, v]) => v !== null && v !== '')
                .map(([k, v]) => `${k}: ${String(v)}`)
                .join(' · ')}
            </div>
          )}
        </td>
        <td class="buttons">
          <button class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
            Settings
          </button>
          {admin && (
            <button disabled={busy} onClick={() => run(`/api/plugins/${encodeURIComponent(p.name)}/${enabled ? 'disable' : 'enable'}`)}>
              {enabled ? 'Disable' : 'Enable'}
            </button>
          )}
          {admin && p.where === 'worker' && enabled && p.state !== 'failed' && (
            <button disabled={busy} onClick={() => run(`/api/plugins/${encodeURIComponent(p.name)}/restart`)}>
              Restart
            </button>
          )}
        </td>
      </tr>
      {open && (
        <tr class="detail">
          <td colSpan={6}>
            <Settings name={p.name} />
          </td>
        </tr>
      )}
    </>
  );
}

export function PluginsView() {
  const st = useStore();
  const [error, setError] = useState('');
  const [commands, setCommands] = useState<Command[]>([]);
  useEffect(() => {
    api<{ commands: Command[] }>('GET', '/api/commands')
      .then((r) => setCommands(r.commands))
      .catch(() => setCommands([]));
  }, [st.plugins]);
  const admin = can(st.me, 'admin');
  return (
    <section class="plugins-view">
      <h2>Plugins</h2>
      <p class="meta">
        Bundled with ockle, or installed beside it (a folder or an npm package in the plugins directory; see docs/plugins.md).
        {admin ? ' Enabling or disabling edits [plugins] enabled in ockle.ini and reloads that plugin alone.' : ''}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="plugins">
        <Thead cols={['Plugin', 'Source', 'Runs in', 'State', 'Last error / description', '']} />
        <tbody>
          {st.plugins.map((p) => (
            <Row key={p.name} p={p} admin={admin} onError={setError} />
          ))}
        </tbody>
      </table>
      <h2>Commands</h2>
      {commands.length === 0 ? (
        <p class="meta">No running plugin registered a command.</p>
      ) : (
        <table class="commands">
          <Thead cols={['Command', 'Role', 'Arguments', 'Description']} />
          <tbody>
            {commands.map((c) => (
              <tr data-command={c.name}>
                <td>
                  <code>{c.name}</code>
                </td>
                <td>{c.role}</td>
                <td>
                  {c.params
                    ? Object.entries(c.params).map(([k, a]) => (
                        <span class="arg" title={a.help ?? ''}>
                          <code>{k}</code>: {a.type}
                          {a.required ? '' : '?'}{' '}
                        </span>
                      ))
                    : <span class="meta">any JSON object</span>}
                </td>
                <td>{c.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
