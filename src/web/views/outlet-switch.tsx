/**
 * Switch one outlet, whatever it powers (operators): on, off or cycle, each asking first and
 * naming the outlet and the server it powers. Forced: switched now, confirmed by read-back,
 * refused by the daemon while an action holds that server.
 */
import { useState } from 'preact/hooks';
import type { ActionRecord } from '../../core/model.js';
import { api } from '../api.js';
import { Confirm } from './common.js';

type Kind = 'on' | 'off' | 'cycle';

export function OutletSwitch({ device, outlet, powers, onStarted }: { device: string; outlet: number; powers: string | null; onStarted?: (id: string) => void }) {
  const [ask, setAsk] = useState<Kind | null>(null);
  const run = async (reason: string): Promise<void> => {
    const r = await api<{ action: ActionRecord }>('POST', `/api/devices/${encodeURIComponent(device)}/outlets/${outlet}/actions`, { action: ask!, reason });
    setAsk(null);
    onStarted?.(r.action.id);
  };
  return (
    <span class="outlet-switch" role="group" aria-label={`Switch ${device}/${outlet}`}>
      {(['on', 'off', 'cycle'] as const).map((k) => (
        <button class="small" data-switch={k} onClick={() => setAsk(k)}>
          {k === 'cycle' ? 'Cycle' : k === 'on' ? 'On' : 'Off'}
        </button>
      ))}
      {ask && (
        <Confirm title={`${ask === 'cycle' ? 'Power-cycle' : `Switch ${ask}`} ${device} outlet ${outlet}?`} confirmLabel={ask === 'cycle' ? 'Power-cycle' : `Switch ${ask}`} danger={ask !== 'on'} onConfirm={run} onCancel={() => setAsk(null)}>
          <p>
            {powers ? (
              <>
                It powers <strong>{powers}</strong>. This switches that one outlet now, without asking the OS to shut down and whatever depends on the server; the daemon refuses it while an action
                holds the server.
              </>
            ) : (
              <>It powers no server ockle knows. This switches it now.</>
            )}
          </p>
        </Confirm>
      )}
    </span>
  );
}
