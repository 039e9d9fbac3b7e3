/**
 * Child process for the SNMP benchmark: N simulated APC PDUs, each its own UDP agent on
 * 127.0.0.1, so their work runs beside the measured client (as real PDUs run on their own
 * CPUs) and not inside its event loop. Sends `{ports}` to the parent, stops on disconnect.
 */
import { behaviour, onSetFor } from '../test/support/pdu-behaviour.js';
import { T, TestAgent, type Value } from '../test/support/snmp-agent.js';

const E = '1.3.6.1.4.1';

/** An APC rPDU as PowerNet-MIB lays it out (rPDU and sPDU views). */
export function apcData(outlets: number): Map<string, Value> {
  const d = new Map<string, Value>();
  const int = (v: number): Value => ({ type: T.Integer, value: v });
  const str = (s: string): Value => ({ type: T.OctetString, value: Buffer.from(s) });
  d.set('1.3.6.1.2.1.1.1.0', str('APC Web/SNMP Management Card (MN:AP8641)'));
  d.set('1.3.6.1.2.1.1.2.0', { type: T.Oid, value: `${E}.318.1.3.4.5` });
  d.set(`${E}.318.1.1.12.1.8.0`, int(outlets)); // rPDUIdentDeviceNumOutlets
  d.set(`${E}.318.1.1.12.3.1.4.0`, int(outlets)); // rPDUOutletDevNumCntrlOutlets
  for (let n = 1; n <= outlets; n++) {
    const s = n % 5 === 0 ? 2 : 1;
    d.set(`${E}.318.1.1.12.3.3.1.1.2.${n}`, str(`outlet-${n}`));
    d.set(`${E}.318.1.1.12.3.3.1.1.4.${n}`, int(s));
    d.set(`${E}.318.1.1.12.3.5.1.1.2.${n}`, str(`outlet-${n}`));
    d.set(`${E}.318.1.1.12.3.5.1.1.4.${n}`, int(s));
    d.set(`${E}.318.1.1.12.3.5.1.1.5.${n}`, int(2));
    d.set(`${E}.318.1.1.4.4.2.1.3.${n}`, int(s));
  }
  return d;
}

if (process.send) {
  const count = Number(process.argv[2] ?? 20);
  const outlets = Number(process.argv[3] ?? 24);
  const delayMs = Number(process.argv[4] ?? 0);
  const agents = await Promise.all(Array.from({ length: count }, () => new TestAgent({ data: apcData(outlets), onSet: onSetFor(behaviour('apc', [])) }).start()));
  for (const a of agents) a.delayMs = delayMs;
  process.send({ ports: agents.map((a) => a.port) });
  process.on('message', (m: { requests?: boolean }) => {
    if (m.requests) process.send!({ requests: agents.reduce((n, a) => n + a.requests, 0) });
  });
  process.on('disconnect', () => {
    void Promise.all(agents.map((a) => a.stop())).then(() => process.exit(0));
  });
}
