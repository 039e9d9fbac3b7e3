/**
 * The configuration as the daemon loaded it, rendered from the schema: every file and section,
 * every key a section may have with its value (or default), the line that sets it, and its help.
 * Secrets are masked by the daemon. Below, an edited file can be checked against the rest of the
 * lab (`config check`, nothing is saved or applied).
 */
import { useEffect, useState } from 'preact/hooks';
import type { FileView } from '../../config/view.js';
import type { ConfigProblem } from '../../errors.js';
import { api } from '../api.js';
import { Thead } from './common.js';
import { LabEditor } from './config-edit.js';

/** The file as INI text again, from what was set in it (comments are not kept by the loader). */
function asIni(f: FileView): string {
  return f.sections
    .map((s) => [`[${s.name}]`, ...s.keys.filter((k) => k.line !== null).sort((a, b) => a.line! - b.line!).map((k) => `${k.key} = ${k.value ?? ''}`)].join('\n'))
    .join('\n\n') + '\n';
}

export function ConfigView() {
  const [view, setView] = useState<{ dir: string; files: FileView[] } | null>(null);
  const [file, setFile] = useState('ockle.ini');
  const [showDefaults, setShowDefaults] = useState(true);
  const [text, setText] = useState('');
  const [checked, setChecked] = useState<{ ok: boolean; problems: ConfigProblem[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loads, setLoads] = useState(0);
  useEffect(() => {
    api<{ dir: string; files: FileView[] }>('GET', '/api/config').then(setView, (err: unknown) => setError((err as Error).message));
  }, [loads]);
  const f = view?.files.find((x) => x.file === file);
  // The text follows the chosen file at once, in the same render as the choice (an effect ran
  // a frame later and could overwrite what was typed in between).
  const choose = (name: string, files = view?.files): void => {
    setFile(name);
    const chosen = files?.find((x) => x.file === name);
    if (chosen) setText(asIni(chosen));
    setChecked(null);
  };
  useEffect(() => {
    if (view && text === '') choose(file, view.files);
  }, [view]);
  const check = async (): Promise<void> => {
    setError(null);
    try {
      setChecked(await api<{ ok: boolean; problems: ConfigProblem[] }>('POST', '/api/config/check', { file, text }));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  if (error && !view) return <p class="error">{error}</p>;
  if (!view) return <p>Loading the configuration…</p>;
  return (
    <section class="config-view">
      <LabEditor view={view.files} onChanged={() => setLoads((n) => n + 1)} />
      <h2>Configuration</h2>
      <p class="meta">
        Loaded from <code>{view.dir}</code>. Secrets are never shown. Edit the servers and devices above, or the files on the gateway, then reload (<code>systemctl reload ockle</code>).
      </p>
      <div class="config-grid">
        <nav class="files" aria-label="Files">
          {view.files.map((x) => (
            <button class={x.file === file ? 'active' : ''} onClick={() => choose(x.file)} data-file={x.file}>
              {x.file}
            </button>
          ))}
        </nav>
        <div>
          <label class="inline">
            <input type="checkbox" checked={showDefaults} onChange={(e) => setShowDefaults((e.target as HTMLInputElement).checked)} /> show keys left at their default
          </label>
          {f?.sections.map((s) => (
            <section class="ini-section" data-section={s.name}>
              <h3>
                [{s.name}] <small>line {s.line}</small>
              </h3>
              <table>
                <Thead cols={['Key', 'Value', 'Default', 'Kind', 'Meaning']} />
                <tbody>
                  {s.keys
                    .filter((k) => showDefaults || k.line !== null)
                    .map((k) => (
                      <tr class={k.line === null ? 'default' : ''} data-key={k.key}>
                        <td>
                          <code>{k.key}</code>
                          {k.line !== null && <small> :{k.line}</small>}
                        </td>
                        <td class={k.secret ? 'secret' : ''}>{k.value ?? <span class="meta">unset</span>}</td>
                        <td>{k.required ? <b>required</b> : (k.default ?? '–')}</td>
                        <td class="meta">{k.kind}</td>
                        <td>
                          {k.help}
                          {k.restart && <em> (restart to apply)</em>}
                        </td>
                      </tr>
                    ))}
                </tbody>
              </table>
            </section>
          ))}
        </div>
      </div>
      <h3>Check an edited file</h3>
      <p class="meta">Paste or edit a file and check it against the rest of the lab, as `ockle config check` would. Nothing is saved or applied.</p>
      <label>
        File
        <input value={file} onInput={(e) => setFile((e.target as HTMLInputElement).value)} name="file" />
      </label>
      <textarea name="text" data-file={file} rows={14} spellcheck={false} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <button onClick={() => void check()}>Check</button>
      {error && <p class="error">{error}</p>}
      {checked && (
        <div class={`check-result ${checked.ok ? 'ok' : 'bad'}`} role="status">
          {checked.problems.length === 0 ? (
            <p>✓ Valid: the lab would load with this file.</p>
          ) : (
            <ul>
              {checked.problems.map((p) => (
                <li class={p.severity}>
                  <code>
                    {p.file}
                    {p.line !== undefined && `:${p.line}`}
                  </code>{' '}
                  {p.severity === 'warning' ? 'warning: ' : ''}
                  {p.message} {p.hint && <em>{p.hint}</em>}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
