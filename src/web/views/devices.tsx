/**
 * Devices: reachability, last poll and its latency, and every outlet with its state, reading and
 * server. Below them the plugins, with their state and last error (admins can restart one).
 */
import { api } from '../api.js';
import { ago } from '../states.js';
import { can, refresh, useStore } from '../store.js';
import { Thead } from './common.js';

export function DevicesView() {
  const st = useStore();
  return (
    <section class="devices-view">
      <h2>Devices</h2>
      {st.devices.map((d) => (
        <article class="device" data-device={d.id} data-reachable={String(d.reachable)}>
          <h3>
            {d.id} <small>{d.type}</small>{' '}
            <span class={d.reachable === false ? 'pill st-unknown' : 'pill st-ok'}>{d.reachable === null ? 'not polled yet' : d.reachable ? 'reachable' : 'unreachable'}</span>
            {d.readBack === 'assumed' && <span class="pill st-off" title="This board cannot report its relays: states are the last ockle wrote.">assumed states</span>}
          </h3>
          <p class="meta">
            {d.description} {d.model && `· ${d.model}`} {d.firmware && `· firmware ${d.firmware}`} · last poll {ago(d.lastPollAt)}
            {d.lastPollMs !== null && ` in ${d.lastPollMs} ms`}
          </p>
          {d.error && <p class="error">{d.error}</p>}
          <table>
            <Thead cols={['#', 'Name', 'State', 'Server', 'W', 'A', 'V', 'Wh']} />
            <tbody>
              {d.outlets.map((o) => (
                <tr>
                  <td>{o.outlet}</td>
                  <td>{o.name ?? ''}</td>
                  <td class={`power-${o.power}`}>{o.power}</td>
                  <td>{o.boundTo ? <a href={`#/server/${encodeURIComponent(o.boundTo.split('/')[0]!)}`}>{o.boundTo}</a> : <span class="meta">free</span>}</td>
                  <td>{o.reading?.watts ?? ''}</td>
                  <td>{o.reading?.amps?.toFixed(2) ?? ''}</td>
                  <td>{o.reading?.volts ?? ''}</td>
                  <td>{o.reading?.energyWh?.toFixed(1) ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
      ))}
      <h2>Plugins</h2>
      <table class="plugins">
        <Thead cols={['Plugin', 'Runs in', 'State', 'Last error', '']} />
        <tbody>
          {st.plugins.map((p) => (
            <tr data-plugin={p.name} data-state={p.state}>
              <td>{p.name}</td>
              <td>{p.where}</td>
              <td class={p.state === 'running' ? 'status-ok' : p.state === 'failed' || p.state === 'backoff' ? 'status-failed' : 'meta'}>{p.state}</td>
              <td>{p.lastError ?? ''}</td>
              <td>
                {can(st.me, 'admin') && p.where === 'worker' && p.state !== 'disabled' && (
                  <button onClick={() => void api('POST', `/api/plugins/${encodeURIComponent(p.name)}/restart`).then(() => refresh(['plugins']))}>Restart</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
