/** The shell: login, header with the live indicator and who is signed in, the views by hash. */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, forgetToken, saveToken, savedToken, setToken } from './api.js';
import { can, connect, disconnect, useStore, type Me } from './store.js';
import { ActionsView } from './views/actions.js';
import { ChartsView } from './views/charts.js';
import { ConfigView } from './views/config.js';
import { DevicesView } from './views/devices.js';
import { PluginsView } from './views/plugins.js';
import { GraphView } from './views/graph.js';
import { SequenceView } from './views/sequence.js';
import { ServerView } from './views/server.js';
import { UpsBanner, UpsView } from './views/ups.js';

const TABS = [
  ['graph', 'Lab'],
  ['sequence', 'Sequence'],
  ['charts', 'Power'],
  ['actions', 'Actions'],
  ['devices', 'Devices'],
  ['plugins', 'Plugins'],
  ['config', 'Config'],
] as const;

/**
 * One part of the hash, percent-decoded; as it is when it is not valid percent-encoding
 * (`#/server/%E0%A4%A`): decodeURIComponent throws, and a throw while rendering blanked the
 * whole app. A bad link now shows "no such server" like any other unknown name.
 */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function useHash(): string[] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodePart);
  return parts[0] ? parts : ['graph'];
}

function Login({ onIn, notice }: { onIn: (me: Me) => void; notice: string }) {
  const [token, setTok] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setToken(token.trim());
    try {
      const me = await api<Me>('GET', '/api/whoami');
      saveToken(token.trim(), remember);
      onIn(me);
    } catch (err) {
      setToken(null);
      setError(err instanceof ApiError && err.status === 401 ? 'That token is not valid here.' : (err as Error).message);
    }
  };
  return (
    <main class="login">
      <h1>ockle</h1>
      {notice && (
        <p class="error" role="alert">
          {notice}
        </p>
      )}
      <p>Sign in with an API token. The daemon writes an admin token to <code>state/api-token</code>; others are made with <code>ockle token new NAME --role viewer|operator|admin</code>.</p>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Token
          <input name="token" type="password" autocomplete="off" value={token} onInput={(e) => setTok((e.target as HTMLInputElement).value)} required />
        </label>
        <label class="inline">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember((e.target as HTMLInputElement).checked)} /> Remember on this device
        </label>
        <button type="submit">Sign in</button>
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    </main>
  );
}

export function App() {
  const s = useStore();
  const route = useHash();
  const [booting, setBooting] = useState(savedToken() !== null);
  const [fatal, setFatal] = useState<string | null>(null);
  // What the journal went through (a record torn by a crash, a disk it cannot write): said once
  // a page load, above every view, until dismissed.
  const [journal, setJournal] = useState<string[]>([]);
  useEffect(() => {
    if (!s.me) return;
    api<{ journal?: { writable: boolean; error: string | null; repairs: string[] } }>('GET', '/api/health')
      .then((h) => setJournal([...(h.journal && !h.journal.writable ? [`${h.journal.error ?? 'the journal cannot be written'}: new actions are refused`] : []), ...(h.journal?.repairs ?? [])]))
      .catch(() => {});
  }, [s.me]);

  useEffect(() => {
    if (!savedToken()) return;
    api<Me>('GET', '/api/whoami')
      .then((me) => connect(me))
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) forgetToken();
        else setFatal((err as Error).message);
      })
      .finally(() => setBooting(false));
  }, []);

  if (booting) return <p class="boot">Connecting…</p>;
  if (!s.me) return <Login notice={s.notice} onIn={(me) => void connect(me).catch((err: unknown) => setFatal((err as Error).message))} />;
  const [view, arg] = route;
  const signOut = (): void => {
    forgetToken();
    setToken(null);
    disconnect();
  };
  return (
    <div class="shell">
      <header>
        <a class="brand" href="#/graph">ockle</a>
        <nav>
          {TABS.filter(([id]) => id !== 'config' || can(s.me, 'admin')).map(([id, label]) => (
            <a href={`#/${id}`} class={view === id || (view === 'server' && id === 'graph') || (view === 'ups' && id === 'charts') ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`live live-${s.live}`} title={s.liveWhy || 'live updates'} data-live={s.live}>
          {s.live === 'live' ? '● live' : s.live === 'down' ? '○ reconnecting' : '○ connecting'}
        </span>
        <span class="who">
          {s.me.name} <small>({s.me.role})</small> <button class="link" onClick={signOut}>sign out</button>
        </span>
      </header>
      {fatal && <p class="error">{fatal}</p>}
      {journal.length > 0 && (
        <div class="notice" role="status" data-journal-notice>
          {journal.map((j) => (
            <p>{j}</p>
          ))}
          <button class="link" onClick={() => setJournal([])}>
            dismiss
          </button>
        </div>
      )}
      <UpsBanner />
      <main>
        {view === 'graph' && <GraphView />}
        {view === 'server' && arg && <ServerView name={arg} />}
        {view === 'sequence' && <SequenceView />}
        {view === 'charts' && <ChartsView />}
        {/* A UPS lives under the Power tab (its cards are there): one more tab did not fit a phone's header. */}
        {view === 'ups' && (arg ? <UpsView name={arg} /> : <ChartsView />)}
        {view === 'actions' && <ActionsView />}
        {view === 'devices' && <DevicesView />}
        {view === 'plugins' && <PluginsView />}
        {view === 'config' && (can(s.me, 'admin') ? <ConfigView /> : <p>The configuration is shown to admins.</p>)}
      </main>
    </div>
  );
}
