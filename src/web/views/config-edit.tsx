/**
 * Editing the lab from the dashboard (admin): a server or a device as a form generated from the
 * schema (`GET /api/config/schema`), saved as structured edits of its file so that comments and
 * layout stay (`POST /api/config/edit`, with the version read when the form opened), created with
 * `PUT … version: absent`, deleted with `DELETE …?version=`. Before saving, a live preview names
 * the servers and outlets the change affects and dry-runs `config check` on the resulting text.
 * A stale version is shown as "changed elsewhere" with what changed (409); a refused change
 * lists each problem at file:line (400). Nothing is written in either case (the API's word).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { SchemaKey, ConfigSchema, SchemaType } from '../../api/config-schema.js';
import type { FileView } from '../../config/view.js';
import { parseIni } from '../../config/ini-lines.js';
import { applyEdits, type DiffSummary, type Edit } from '../../config/edit/text.js';
import type { ConfigProblem } from '../../errors.js';
import type { TreeView } from '../../core/model.js';
import { api, ApiError } from '../api.js';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const SECRET = '[secret]';
/** Keys of [server] the form edits through its own widgets (outlet rows, the dependency picker), or keeps as they are. */
const SERVER_OWN = new Set(['outlets', 'tests', 'controls', 'dependencies']);

type Kind = 'server' | 'device';
/** `other`: a section no list of [server] names; kept as it is. */
type Role = 'server' | 'outlet' | 'test' | 'control' | 'device' | 'other';
interface Sec {
  readonly name: string;
  readonly role: Role;
  /** Values as written in INI (decoded); absent: unset. */
  readonly values: Readonly<Record<string, string>>;
}
interface Loaded {
  readonly path: string;
  readonly version: string;
  readonly text: string;
  readonly exists: boolean;
}
interface Change {
  readonly file: string;
  readonly changed: boolean;
  readonly reloaded: boolean;
  readonly diff: DiffSummary;
}

const splitList = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const dirOf = (kind: Kind): string => (kind === 'server' ? 'servers' : 'devices');

/** The file's sections, each with the role the server's lists give it. */
function readSections(kind: Kind, text: string): Sec[] {
  const ini = parseIni(text);
  const main = ini.sections.find((s) => s.name === (kind === 'server' ? 'server' : 'device'));
  const roleOf = (name: string): Role => {
    if (kind === 'device') return 'device';
    if (name === 'server') return 'server';
    const list = (k: string): string[] => splitList(main?.keys.get(k)?.value);
    return list('outlets').includes(name) ? 'outlet' : list('controls').includes(name) ? 'control' : list('tests').includes(name) ? 'test' : 'other';
  };
  return ini.sections.map((s) => ({ name: s.name, role: roleOf(s.name), values: Object.fromEntries([...s.keys.values()].map((k) => [k.key, k.value])) }));
}

/** The keys a section of `role` may hold, for its current type. */
function keysOf(schema: ConfigSchema, role: Role, type: string | undefined): readonly SchemaKey[] {
  const typed = (g: { common: readonly SchemaKey[]; types: readonly SchemaType[] }): SchemaKey[] => [...g.common, ...(g.types.find((t) => t.type === type)?.keys ?? [])];
  if (role === 'server') return schema.server.server;
  if (role === 'outlet') return schema.server.outlet;
  if (role === 'device') return typed(schema.devices);
  if (role === 'other') return [];
  return typed(role === 'test' ? schema.tests : schema.controls);
}
const typesOf = (schema: ConfigSchema, role: Role): readonly SchemaType[] =>
  role === 'device' ? schema.devices.types : role === 'test' ? schema.tests.types : role === 'control' ? schema.controls.types : [];

/** The edits that turn the sections read into the form's sections: only what differs. */
function editsFor(schema: ConfigSchema, before: readonly Sec[], after: readonly Sec[]): Edit[] {
  const edits: Edit[] = [];
  for (const b of before) if (!after.some((a) => a.name === b.name)) edits.push({ op: 'remove-section', section: b.name });
  for (const a of after) {
    const b = before.find((x) => x.name === a.name);
    if (!b) edits.push({ op: 'add-section', section: a.name });
    const current = new Map(keysOf(schema, a.role, a.values.type).map((k) => [k.key, k]));
    const known = new Set([...current.keys(), ...(b ? keysOf(schema, b.role, b.values.type) : []).map((k) => k.key)]);
    for (const key of known) {
      const spec = current.get(key);
      const old = b?.values[key];
      const v = spec ? a.values[key]?.trim() : undefined;
      if (spec?.secret && (v === undefined || v === '' || v === SECRET) && old !== undefined) continue; // write-only: empty keeps it
      if (v === undefined || v === '') {
        if (old !== undefined) edits.push({ op: 'unset', section: a.name, key });
      } else if (v !== old) {
        // A list with the same items stays as it was written.
        if ((spec?.kind === 'list' || spec?.kind === 'multilist') && splitList(v).join(',') === splitList(old).join(',')) continue;
        edits.push({ op: 'set', section: a.name, key, value: v });
      }
    }
  }
  return edits;
}

/** Every server that depends on `name`, directly or through others (`from` depends on `to`). */
export function dependentsOf(tree: TreeView, name: string): Set<string> {
  const out = new Set<string>();
  const walk = (n: string): void => {
    for (const e of tree.edges) {
      if (e.to !== n || out.has(e.from)) continue;
      out.add(e.from);
      walk(e.from);
    }
  };
  walk(name);
  return out;
}

/** One input per key, chosen by the key's kind; the help below it. */
export function Field({ k, value, stored, onChange, types, note }: { k: SchemaKey; value: string | undefined; stored: boolean; onChange: (v: string | undefined) => void; types?: readonly SchemaType[]; note?: string }) {
  const [id] = useState(() => `f-${Math.random().toString(36).slice(2, 9)}`);
  const set = (e: Event): void => onChange((e.target as HTMLInputElement).value);
  let input;
  if (k.key === 'type' && types && types.length > 0) {
    input = (
      <select id={id} name={k.key} value={value ?? ''} onChange={set}>
        <option value="" disabled>
          choose a type…
        </option>
        {types.map((t) => (
          <option value={t.type}>
            {t.type} — <bdi>{t.description}</bdi>
          </option>
        ))}
      </select>
    );
  } else if (k.kind === 'int') {
    input = <input id={id} name={k.key} type="number" min={k.min} max={k.max} step={1} value={value ?? ''} placeholder={k.default ?? ''} onInput={set} />;
  } else if (k.kind === 'bool') {
    input = <input id={id} name={k.key} type="checkbox" checked={(value ?? k.default) === 'true'} onChange={(e) => onChange((e.target as HTMLInputElement).checked ? 'true' : 'false')} />;
  } else if (k.kind === 'select') {
    input = (
      <select id={id} name={k.key} value={value ?? ''} onChange={set}>
        <option value="">{k.required ? 'choose…' : `default${k.default !== null ? ` (${k.default})` : ''}`}</option>
        {k.choices?.map((c) => (
          <option value={c}>{c}</option>
        ))}
      </select>
    );
  } else if (k.kind === 'multilist') {
    const chosen = new Set(splitList(value ?? k.default ?? ''));
    input = (
      <span class="choices" id={id}>
        {k.choices?.map((c) => (
          <label class="inline">
            <input
              type="checkbox"
              name={`${k.key}:${c}`}
              checked={chosen.has(c)}
              onChange={(e) => {
                const next = new Set(chosen);
                if ((e.target as HTMLInputElement).checked) next.add(c);
                else next.delete(c);
                onChange(k.choices!.filter((x) => next.has(x)).join(', '));
              }}
            />{' '}
            {c}
          </label>
        ))}
      </span>
    );
  } else if (k.kind === 'secret') {
    input = <input id={id} name={k.key} type="password" autocomplete="new-password" value={value === SECRET ? '' : (value ?? '')} placeholder={stored ? 'stored — leave empty to keep' : ''} onInput={set} />;
  } else {
    const hint = k.kind === 'list' ? (k.default || 'a, b, c') : k.kind === 'duration' ? (k.default ?? k.describe) : (k.default ?? '');
    input = <input id={id} name={k.key} type="text" value={value ?? ''} placeholder={hint} onInput={set} />;
  }
  return (
    <div class={`field kind-${k.kind}`} data-key={k.key}>
      <label for={id}>
        <code>{k.key}</code>
        {k.required && <b class="req"> required</b>}
        {note && <em class="note"> {note}</em>}
      </label>
      {input}
      <small class="help">
        {k.help} <span class="meta">({k.describe}{k.default !== null && k.default !== '' ? `; default ${k.default}` : ''})</span>
      </small>
    </div>
  );
}

function SectionFields({ schema, sec, onChange, skip, stored }: { schema: ConfigSchema; sec: Sec; onChange: (s: Sec) => void; skip?: ReadonlySet<string>; stored: Sec | undefined }) {
  // A server's override shows the lab-wide default it overrides ([servers] in ockle.ini).
  const inherited = (k: SchemaKey): SchemaKey => (sec.role === 'server' && k.default === null ? { ...k, default: schema.main.servers?.find((d) => d.key === k.key)?.default ?? null } : k);
  const keys = keysOf(schema, sec.role, sec.values.type)
    .filter((k) => !skip?.has(k.key))
    .map(inherited);
  const put = (key: string, v: string | undefined): void => {
    const values = { ...sec.values };
    if (v === undefined) delete values[key];
    else values[key] = v;
    onChange({ ...sec, values });
  };
  return (
    <div class="fields">
      {keys.map((k) => (
        <Field k={k} value={sec.values[k.key]} stored={stored?.values[k.key] !== undefined} onChange={(v) => put(k.key, v)} types={k.key === 'type' ? typesOf(schema, sec.role) : undefined} />
      ))}
    </div>
  );
}

/** Problems at file:line, as `config check` words them. */
export function Problems({ problems }: { problems: readonly ConfigProblem[] }) {
  return (
    <ul class="problems">
      {problems.map((p) => (
        <li class={p.severity} data-problem={`${p.file}:${p.line ?? ''}`}>
          <code>
            {p.file}
            {p.line !== undefined && `:${p.line}`}
          </code>{' '}
          {p.severity === 'warning' ? 'warning: ' : ''}
          {p.message} {p.hint && <em>{p.hint}</em>}
        </li>
      ))}
    </ul>
  );
}

export type Outcome = { kind: 'conflict'; message: string; diff: DiffSummary | null } | { kind: 'invalid'; message: string; problems: readonly ConfigProblem[] } | { kind: 'error'; message: string };

export function outcomeOf(err: unknown): Outcome {
  if (err instanceof ApiError && err.status === 409) return { kind: 'conflict', message: err.message, diff: (err.body.diff as DiffSummary | null | undefined) ?? null };
  if (err instanceof ApiError && err.code === 'OCKLE_CONFIG_INVALID') return { kind: 'invalid', message: err.message, problems: (err.body.problems as ConfigProblem[] | undefined) ?? [] };
  return { kind: 'error', message: err instanceof ApiError && err.hint ? `${err.message} — ${err.hint}` : (err as Error).message };
}

/** The form of one server or device file: opened on its current version, saved against it. */
export function FileForm({
  kind,
  name: initialName,
  schema,
  view,
  tree,
  onDone,
}: {
  kind: Kind;
  name: string | null;
  schema: ConfigSchema;
  view: readonly FileView[];
  tree: TreeView;
  onDone: (message: string) => void;
}) {
  const [name, setName] = useState(initialName ?? '');
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [before, setBefore] = useState<Sec[]>([]);
  const [secs, setSecs] = useState<Sec[]>([]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [check, setCheck] = useState<{ text: string; ok: boolean; problems: readonly ConfigProblem[] } | null>(null);
  const isNew = initialName === null;
  const path = `${dirOf(kind)}/${name}.ini`;

  const open = async (): Promise<void> => {
    setConfirmDelete(false);
    if (isNew) {
      setOutcome(null);
      const first: Sec[] = kind === 'server' ? [{ name: 'server', role: 'server', values: {} }] : [{ name: 'device', role: 'device', values: { type: schema.devices.types.some((t) => t.type === 'sim') ? 'sim' : (schema.devices.types[0]?.type ?? '') } }];
      setLoaded({ path: '', version: 'absent', text: '', exists: false });
      setBefore([]);
      setSecs(first);
      return;
    }
    try {
      const f = await api<Loaded>('GET', `/api/config/files/${dirOf(kind)}/${encodeURIComponent(initialName)}.ini`);
      const s = readSections(kind, f.text);
      setLoaded(f);
      setBefore(s);
      setSecs(s);
      // Cleared with the fresh file in place, not before: "changed elsewhere" stays until the form shows what changed.
      setOutcome(null);
    } catch (err) {
      setOutcome(outcomeOf(err));
    }
  };
  useEffect(() => void open(), [kind, initialName]);

  // What the form makes of the file: the server's lists follow its sections.
  const after = useMemo((): Sec[] => {
    if (kind !== 'server') return secs;
    const names = (role: Role): string => secs.filter((s) => s.role === role).map((s) => s.name).join(', ');
    return secs.map((s) => {
      if (s.role !== 'server') return s;
      const values = { ...s.values };
      for (const [key, role] of [['outlets', 'outlet'], ['tests', 'test'], ['controls', 'control']] as const) {
        const v = names(role);
        if (v === '' && values[key] === undefined) continue;
        if (splitList(values[key]).join(',') !== splitList(v).join(',')) values[key] = v;
      }
      return { ...s, values };
    });
  }, [secs, kind]);
  const edits = useMemo(() => editsFor(schema, before, after), [schema, before, after]);
  const nextText = useMemo(() => {
    try {
      return applyEdits(loaded?.text ?? '', edits);
    } catch (err) {
      return (err as Error).message;
    }
  }, [loaded, edits]);

  // The dry run: `config check` on the text the save would write, a moment after the last change.
  useEffect(() => {
    if (!loaded || (isNew && !NAME.test(name))) return;
    const t = setTimeout(() => {
      api<{ ok: boolean; problems: ConfigProblem[] }>('POST', '/api/config/check', { file: path, text: nextText }).then(
        (r) => setCheck({ text: nextText, ...r }),
        () => setCheck(null),
      );
    }, 300);
    return () => clearTimeout(t);
  }, [nextText, path, loaded]);

  if (!loaded) return outcome ? <Result outcome={outcome} onReload={() => void open()} /> : <p>Reading {path}…</p>;

  const main = after.find((s) => s.role === kind);
  const update = (s: Sec): void => setSecs(secs.map((x) => (x.name === s.name ? s : x)));
  const devices = view.filter((f) => f.file.startsWith('devices/')).map((f) => f.file.slice(8, -4));
  const servers = view.filter((f) => f.file.startsWith('servers/')).map((f) => f.file.slice(8, -4));
  const deps = splitList(main?.values.dependencies);
  const dependents = isNew ? new Set<string>() : dependentsOf(tree, name);
  const bound = (device: string): { server: string; outlet: string }[] =>
    view.filter((f) => f.file.startsWith('servers/')).flatMap((f) => f.sections.filter((s) => s.keys.find((k) => k.key === 'device')?.value === device).map((s) => ({ server: f.file.slice(8, -4), outlet: s.keys.find((k) => k.key === 'outlet')?.value ?? '?' })));

  const save = async (): Promise<void> => {
    setBusy(true);
    setOutcome(null);
    try {
      const r = isNew
        ? await api<Change>('PUT', `/api/config/files/${path}`, { version: 'absent', text: nextText })
        : await api<Change>('POST', '/api/config/edit', { file: path, version: loaded.version, edits });
      onDone(r.changed ? `${r.file} saved (+${r.diff.added} −${r.diff.removed} lines)${r.reloaded ? ', reloaded' : ', but the reload did not apply it (see the daemon’s log)'}` : `${r.file}: nothing changed`);
    } catch (err) {
      setOutcome(outcomeOf(err));
      setBusy(false);
    }
  };
  const remove = async (): Promise<void> => {
    setBusy(true);
    setOutcome(null);
    try {
      await api<Change>('DELETE', `/api/config/files/${path}?version=${loaded.version}`);
      onDone(`${path} deleted (kept as ${path}.bak)`);
    } catch (err) {
      setOutcome(outcomeOf(err));
      setBusy(false);
      setConfirmDelete(false);
    }
  };
  const outletRows = secs.filter((s) => s.role === 'outlet');
  const freeName = (base: string): string => {
    for (let i = 1; ; i++) {
      const n = i === 1 ? base : `${base}-${i}`;
      if (!secs.some((s) => s.name === n)) return n;
    }
  };
  const others = secs.filter((s) => s.role === 'test' || s.role === 'control');

  return (
    <section class="file-form" data-form={kind} data-file={path}>
      <h3>
        {isNew ? `New ${kind}` : `Edit ${kind} ${name}`} <small class="meta">{isNew ? '' : `${path} · version ${loaded.version.slice(0, 8)}`}</small>
      </h3>
      {isNew && (
        <div class="field" data-key="name">
          <label for="new-name">
            <code>name</code> <b class="req">required</b>
          </label>
          <input id="new-name" name="name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value.trim())} placeholder="e.g. nas-1" />
          <small class="help">
            The file is {dirOf(kind)}/NAME.ini: lowercase letters, digits, “-” and “_”.{name !== '' && !NAME.test(name) && <span class="error"> Not a valid name.</span>}
            {name !== '' && (kind === 'server' ? servers : devices).includes(name) && <span class="error"> That {kind} exists already.</span>}
          </small>
        </div>
      )}
      {main && <SectionFields schema={schema} sec={main} stored={before.find((b) => b.name === main.name)} onChange={update} skip={kind === 'server' ? SERVER_OWN : undefined} />}
      {kind === 'server' && (
        <>
          <h4>Outlets</h4>
          <table class="outlet-rows">
            <thead>
              <tr>
                <th>Section</th>
                <th>Device</th>
                <th>Outlet</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {outletRows.map((s) => (
                <tr data-outlet-row={s.name}>
                  <td>
                    <code>[{s.name}]</code>
                  </td>
                  <td>
                    <select name="device" value={s.values.device ?? ''} onChange={(e) => update({ ...s, values: { ...s.values, device: (e.target as HTMLSelectElement).value } })}>
                      <option value="" disabled>
                        device…
                      </option>
                      {devices.map((d) => (
                        <option value={d}>{d}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <input name="outlet" type="number" min={1} step={1} value={s.values.outlet ?? ''} onInput={(e) => update({ ...s, values: { ...s.values, outlet: (e.target as HTMLInputElement).value } })} />
                  </td>
                  <td>
                    <button type="button" class="small" onClick={() => setSecs(secs.filter((x) => x.name !== s.name))}>
                      remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" class="small" data-add="outlet" onClick={() => setSecs([...secs, { name: freeName('power'), role: 'outlet', values: { device: devices[0] ?? '', outlet: '' } }])}>
            + outlet
          </button>
          <h4>Depends on</h4>
          <p class="meta">Servers that must be OK before this one starts. Those that already depend on {name || 'this one'} are greyed out: choosing them would make a cycle.</p>
          <div class="dep-picker">
            {servers
              .filter((s) => s !== name)
              .map((s) => {
                const cycle = dependents.has(s);
                return (
                  <label class={`inline${cycle ? ' disabled' : ''}`} title={cycle ? `${s} depends on ${name}: a cycle` : ''}>
                    <input
                      type="checkbox"
                      name={`dep:${s}`}
                      disabled={cycle}
                      checked={deps.includes(s)}
                      onChange={(e) => {
                        const next = (e.target as HTMLInputElement).checked ? [...deps, s] : deps.filter((d) => d !== s);
                        update({ ...main!, values: { ...main!.values, dependencies: next.join(', ') } });
                      }}
                    />{' '}
                    {s}
                  </label>
                );
              })}
          </div>
          <h4>Tests and controls</h4>
          {others.map((s) => (
            <details class="sub-section" data-section={s.name} open={!before.some((b) => b.name === s.name)}>
              <summary>
                [{s.name}] <span class="meta">{s.role} · {s.values.type ?? 'no type'}</span>{' '}
                <button type="button" class="small" onClick={() => setSecs(secs.filter((x) => x.name !== s.name))}>
                  remove
                </button>
              </summary>
              <SectionFields schema={schema} sec={s} stored={before.find((b) => b.name === s.name)} onChange={update} />
            </details>
          ))}
          <button type="button" class="small" data-add="test" onClick={() => setSecs([...secs, { name: freeName('test'), role: 'test', values: { type: schema.tests.types[0]?.type ?? '' } }])}>
            + test
          </button>{' '}
          <button type="button" class="small" data-add="control" onClick={() => setSecs([...secs, { name: freeName('os'), role: 'control', values: { type: schema.controls.types[0]?.type ?? '' } }])}>
            + control
          </button>
        </>
      )}

      <div class="preview" data-preview>
        <h4>Preview</h4>
        {kind === 'server' ? (
          <ul>
            <li>
              Outlets:{' '}
              <span data-preview-outlets>
                {outletRows.map((s) => `${s.values.device ?? '?'}/${s.values.outlet || '?'}`).join(', ') || 'none (never switched)'}
              </span>
            </li>
            <li>Depends on: {deps.join(', ') || 'nothing'}</li>
            <li>
              Depended on by: <span data-preview-dependents>{[...dependents].join(', ') || 'nothing'}</span>
            </li>
          </ul>
        ) : (
          <ul>
            <li>
              Servers on its outlets:{' '}
              <span data-preview-bound>
                {isNew
                  ? 'none yet'
                  : bound(name)
                      .map((b) => `${b.server} (${name}/${b.outlet})`)
                      .join(', ') || 'none'}
              </span>
            </li>
          </ul>
        )}
        <p class="meta">
          {isNew ? `Creates ${path}.` : edits.length === 0 ? 'No change yet.' : `${edits.length} edit${edits.length === 1 ? '' : 's'}: ${edits.map((e) => (e.op === 'set' || e.op === 'unset' ? `${e.op} [${e.section}] ${e.key}` : `${e.op} [${e.section}]`)).join('; ')}`}
        </p>
        {check && check.text === nextText && (
          <div class={`check-result ${check.ok ? 'ok' : 'bad'}`} data-dry-run={check.ok ? 'ok' : 'bad'}>
            {check.ok ? <p>✓ Dry run: the lab would load with this change.</p> : <p>✗ Dry run: the lab would not load with this change.</p>}
            {check.problems.length > 0 && <Problems problems={check.problems} />}
          </div>
        )}
      </div>

      {outcome && <Result outcome={outcome} onReload={() => void open()} />}
      <div class="buttons">
        <button type="button" class="primary" data-save disabled={busy || (isNew && (!NAME.test(name) || (kind === 'server' ? servers : devices).includes(name))) || (!isNew && edits.length === 0)} onClick={() => void save()}>
          {isNew ? `Create ${kind}` : 'Save'}
        </button>
        <button type="button" onClick={() => onDone('')} disabled={busy}>
          Cancel
        </button>
        {!isNew &&
          (confirmDelete ? (
            <>
              <span class="error"> Delete {path}?</span>
              <button type="button" class="danger" data-delete-confirm disabled={busy} onClick={() => void remove()}>
                Yes, delete
              </button>
            </>
          ) : (
            <button type="button" class="danger" data-delete onClick={() => setConfirmDelete(true)}>
              Delete {kind}
            </button>
          ))}
      </div>
    </section>
  );
}

export function Result({ outcome, onReload }: { outcome: Outcome; onReload: () => void }) {
  if (outcome.kind === 'conflict')
    return (
      <div class="conflict" role="alert" data-outcome="conflict">
        <p>
          <b>Changed elsewhere</b> since this form was opened; nothing was saved. {outcome.diff ? `Since then: +${outcome.diff.added} −${outcome.diff.removed} lines.` : ''}
        </p>
        {outcome.diff && (
          <ul class="diff">
            {outcome.diff.lines.map((l) => (
              <li class={l.op === '+' ? 'add' : 'del'}>
                <code>
                  {l.op} {l.line}: {l.text}
                </code>
              </li>
            ))}
          </ul>
        )}
        <button type="button" data-reload onClick={onReload}>
          Reload the file (your edits are dropped)
        </button>
      </div>
    );
  if (outcome.kind === 'invalid')
    return (
      <div class="check-result bad" role="alert" data-outcome="invalid">
        <p>Refused: nothing was saved.</p>
        <Problems problems={outcome.problems} />
      </div>
    );
  return (
    <p class="error" role="alert" data-outcome="error">
      {outcome.message}
    </p>
  );
}

/** The servers and devices of the lab, each with an editor; new ones. */
export function LabEditor({ view, onChanged }: { view: readonly FileView[]; onChanged: () => void }) {
  const [schema, setSchema] = useState<ConfigSchema | null>(null);
  const [tree, setTree] = useState<TreeView | null>(null);
  const [editing, setEditing] = useState<{ kind: Kind | 'main'; name: string | null } | null>(null);
  const [message, setMessage] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<ConfigSchema>('GET', '/api/config/schema').then(setSchema, (err: unknown) => setError((err as Error).message));
  }, []);
  useEffect(() => {
    api<TreeView>('GET', '/api/tree').then(setTree, (err: unknown) => setError((err as Error).message));
  }, [view]);
  if (error) return <p class="error">{error}</p>;
  if (!schema || !tree) return <p>Loading the schema…</p>;
  const open = (e: { kind: Kind | 'main'; name: string | null }): void => {
    setMessage('');
    setEditing(e);
  };
  const names = (dir: string): string[] => view.filter((f) => f.file.startsWith(`${dir}/`)).map((f) => f.file.slice(dir.length + 1, -4));
  const list = (kind: Kind) => (
    <div class="edit-list" data-list={kind}>
      <h3>{kind === 'server' ? 'Servers' : 'Devices'}</h3>
      <ul>
        {names(dirOf(kind)).map((n) => (
          <li>
            <button type="button" class={`link${editing?.kind === kind && editing.name === n ? ' active' : ''}`} data-edit={`${kind}:${n}`} onClick={() => open({ kind, name: n })}>
              {n}
            </button>
          </li>
        ))}
      </ul>
      <button type="button" class="small" data-new={kind} onClick={() => open({ kind, name: null })}>
        + new {kind}
      </button>
    </div>
  );
  return (
    <section class="lab-editor">
      <h2>Edit the lab</h2>
      <p class="meta">Changes are checked with the whole lab, written to the file (comments and layout kept, the previous one as .bak), then applied by a reload. `ockle config undo` takes the latest back.</p>
      {message && (
        <p class="notice" role="status" data-saved>
          {message}
        </p>
      )}
      <div class="editor-grid">
        <nav>
          <div class="edit-list" data-list="main">
            <h3>Settings</h3>
            <button type="button" class={`link${editing?.kind === 'main' ? ' active' : ''}`} data-edit="main" onClick={() => open({ kind: 'main', name: null })}>
              ockle.ini
            </button>
          </div>
          {list('server')}
          {list('device')}
        </nav>
        <div>
          {editing?.kind === 'main' ? (
            <MainForm
              key="main"
              schema={schema}
              onDone={(m) => {
                setEditing(null);
                setMessage(m);
                if (m) onChanged();
              }}
            />
          ) : editing ? (
            <FileForm
              key={`${editing.kind}:${editing.name ?? ''}`}
              kind={editing.kind}
              name={editing.name}
              schema={schema}
              view={view}
              tree={tree}
              onDone={(m) => {
                setEditing(null);
                setMessage(m);
                if (m) onChanged();
              }}
            />
          ) : (
            <p class="meta">Choose a server or a device to edit, or make a new one; or the settings of ockle.ini (the daemon, the API, server defaults, plugins).</p>
          )}
        </div>
      </div>
    </section>
  );
}

/** Keys of ockle.ini a reload does not apply: the daemon reads them when it starts. */
const RESTART_ONLY = new Set(['daemon.state_dir', 'api.listen', 'api.port']);

/**
 * ockle.ini as a form: one collapsible group per section the schema knows ([daemon], [api],
 * [servers], [plugins], each known plugin's [plugins.NAME]); other sections (tokens) are left as
 * they are. Saved as the edits of the keys that changed, against the version read when it opened;
 * a section not in the file yet is added first.
 */
export function MainForm({ schema, onDone }: { schema: ConfigSchema; onDone: (message: string) => void }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [before, setBefore] = useState<Record<string, Record<string, string>>>({});
  const [values, setValues] = useState<Record<string, Record<string, string>>>({});
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const open = async (): Promise<void> => {
    setOutcome(null);
    try {
      const f = await api<Loaded>('GET', '/api/config/files/ockle.ini');
      const read = Object.fromEntries(parseIni(f.text).sections.map((s) => [s.name, Object.fromEntries([...s.keys.values()].map((k) => [k.key, k.value]))]));
      setLoaded(f);
      setBefore(read);
      setValues(read);
    } catch (err) {
      setOutcome(outcomeOf(err));
    }
  };
  useEffect(() => void open(), []);
  const sections = Object.keys(schema.main);
  const plugins = sections.filter((s) => s.startsWith('plugins.')).map((s) => s.slice(8));
  // [plugins] enabled: a checkbox per known plugin (and any other name already listed).
  const keysOf = (section: string): SchemaKey[] =>
    schema.main[section]!.map((k) =>
      section === 'plugins' && k.key === 'enabled' ? { ...k, kind: 'multilist', choices: [...new Set([...plugins, ...splitList(values.plugins?.enabled)])] } : k,
    );
  const edits = useMemo((): Edit[] => {
    const out: Edit[] = [];
    for (const section of sections) {
      const b = before[section];
      const a = values[section] ?? {};
      const mine: Edit[] = [];
      for (const k of schema.main[section]!) {
        const old = b?.[k.key];
        const v = a[k.key]?.trim();
        if (k.secret && (v === undefined || v === '' || v === SECRET) && old !== undefined) continue;
        if (v === undefined || v === '') {
          if (old !== undefined) mine.push({ op: 'unset', section, key: k.key });
        } else if (v !== old) {
          if ((k.kind === 'list' || k.kind === 'multilist' || section === 'plugins') && splitList(v).join(',') === splitList(old).join(',')) continue;
          mine.push({ op: 'set', section, key: k.key, value: v });
        }
      }
      if (mine.length > 0 && !b) out.push({ op: 'add-section', section });
      out.push(...mine);
    }
    return out;
  }, [before, values]);
  if (!loaded) return outcome ? <Result outcome={outcome} onReload={() => void open()} /> : <p>Reading ockle.ini…</p>;
  const put = (section: string, key: string, v: string | undefined): void => {
    const s = { ...values[section] };
    if (v === undefined) delete s[key];
    else s[key] = v;
    setValues({ ...values, [section]: s });
  };
  const save = async (): Promise<void> => {
    setBusy(true);
    setOutcome(null);
    try {
      const r = await api<Change>('POST', '/api/config/edit', { file: 'ockle.ini', version: loaded.version, edits });
      const restart = edits.some((e) => e.op !== 'add-section' && e.op !== 'remove-section' && RESTART_ONLY.has(`${e.section}.${e.key}`));
      onDone(
        r.changed
          ? `${r.file} saved (+${r.diff.added} −${r.diff.removed} lines)${r.reloaded ? ', reloaded' : ', but the reload did not apply it (see the daemon’s log)'}${restart ? '; some of it applies at the next restart' : ''}`
          : `${r.file}: nothing changed`,
      );
    } catch (err) {
      setOutcome(outcomeOf(err));
      setBusy(false);
    }
  };
  return (
    <section class="file-form" data-form="main" data-file="ockle.ini">
      <h3>
        Edit ockle.ini <small class="meta">version {loaded.version.slice(0, 8)}</small>
      </h3>
      <p class="meta">The daemon, the API, the defaults of every server, and the plugins. Token sections are not shown here and stay as they are.</p>
      {sections.map((section) => (
        <details class="sub-section" data-main-section={section} open={section === 'plugins'}>
          <summary>
            [{section}] <span class="meta">{before[section] ? '' : 'not in the file yet'}</span>
          </summary>
          <div class="fields">
            {keysOf(section).map((k) => (
              <Field
                k={k}
                value={values[section]?.[k.key]}
                stored={before[section]?.[k.key] !== undefined}
                onChange={(v) => put(section, k.key, v)}
                note={RESTART_ONLY.has(`${section}.${k.key}`) ? 'applies at the next restart' : undefined}
              />
            ))}
          </div>
        </details>
      ))}
      <div class="preview" data-preview>
        <p class="meta">
          {edits.length === 0 ? 'No change yet.' : `${edits.length} edit${edits.length === 1 ? '' : 's'}: ${edits.map((e) => (e.op === 'set' || e.op === 'unset' ? `${e.op} [${e.section}] ${e.key}` : `${e.op} [${e.section}]`)).join('; ')}`}
        </p>
      </div>
      {outcome && <Result outcome={outcome} onReload={() => void open()} />}
      <div class="buttons">
        <button type="button" class="primary" data-save disabled={busy || edits.length === 0} onClick={() => void save()}>
          Save
        </button>
        <button type="button" onClick={() => onDone('')} disabled={busy}>
          Cancel
        </button>
      </div>
    </section>
  );
}
