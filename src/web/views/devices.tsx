/**
 * Devices: reachability, last poll and its latency, and every outlet with its state, reading and
 * server. (Plugins have their own view: plugins.tsx.)
 */
import { ago } from '../states.js';
import { can, useStore } from '../store.js';
import { OutletSwitch } from './outlet-switch.js';
import { Thead } from './common.js';

export function DevicesView() {
  const st = useStore();
  const operator = can(st.me, 'operator');
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
            <bdi>{d.description}</bdi> {d.model && <>· <bdi>{d.model}</bdi></>} {d.firmware && <>· firmware <bdi>{d.firmware}</bdi></>} · last poll {ago(d.lastPollAt)}
            {d.lastPollMs !== null && ` in ${d.lastPollMs} ms`}
          </p>
          {d.error && <p class="error">{d.error}</p>}
          <table>
            <Thead cols={['#', 'Name', 'State', 'Server', 'W', 'A', 'V', 'Wh', ...(operator ? [''] : [])]} />
            <tbody>
              {d.outlets.map((o) => (
                <tr data-outlet={`${d.id}/${o.outlet}`}>
                  <td>{o.outlet}</td>
                  <td>{o.name ?? ''}</td>
                  <td class={`power-${o.power}`}>{o.power}</td>
                  <td>{o.boundTo ? <a href={`#/server/${encodeURIComponent(o.boundTo.split('/')[0]!)}`}>{o.boundTo}</a> : <span class="meta">free</span>}</td>
                  <td>{o.reading?.watts ?? ''}</td>
                  <td>{o.reading?.amps?.toFixed(2) ?? ''}</td>
                  <td>{o.reading?.volts ?? ''}</td>
                  <td>{o.reading?.energyWh?.toFixed(1) ?? ''}</td>
                  {operator && (
                    <td>
                      <OutletSwitch device={d.id} outlet={o.outlet} powers={o.boundTo} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </article>
      ))}
      <p class="meta">
        Plugins, their settings and commands: <a href="#/plugins">Plugins</a>.
      </p>
    </section>
  );
}
