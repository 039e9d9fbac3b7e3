/**
 * How real switched PDUs react to a SET, per vendor, transcribed from the MIBs (see the
 * project's notes on PDU OIDs), independently of the driver's profiles: a test agent wired with
 * these behaves like the device, so a profile with a wrong OID or value fails against it.
 */
import { ErrorStatus, T, type TestAgent, type Value } from './snmp-agent.js';

const E = '1.3.6.1.4.1';

export type Action = 'on' | 'off' | 'cycle';
interface StatusView {
  readonly col: string;
  readonly on: number;
  readonly off: number;
  /** Appended after the instance (Raritan's sensor index). */
  readonly suffix?: string;
}
interface Rule {
  readonly control: string;
  handle(agent: TestAgent, instance: string, v: Value): number | undefined;
}

/** What the agent was asked to do, in order (cycles included, which leave no trace in states). */
export type History = { instance: string; action: Action; control: string }[];

const setInt = (agent: TestAgent, oid: string, value: number): void => agent.set(oid, { type: T.Integer, value });

function apply(agent: TestAgent, views: readonly StatusView[], instance: string, a: Action): boolean {
  let found = false;
  for (const s of views) {
    const oid = `${s.col}.${instance}${s.suffix ? `.${s.suffix}` : ''}`;
    if (!agent.data.has(oid)) continue;
    found = true;
    setInt(agent, oid, a === 'off' ? s.off : s.on);
  }
  return found;
}

/** A command column written with a value per action (APC, CyberPower, Raritan, Sentry, Tripp Lite). */
function command(o: { control: string; values: Record<number, Action>; views: readonly StatusView[]; reflect?: { on: number; off: number }; history: History }): Rule {
  return {
    control: o.control,
    handle(agent, instance, v) {
      if (v.type !== T.Integer) return ErrorStatus.wrongType;
      const a = o.values[v.value as number];
      if (!a) return ErrorStatus.wrongValue;
      if (!apply(agent, o.views, instance, a)) return ErrorStatus.noCreation;
      if (o.reflect) setInt(agent, `${o.control}.${instance}`, a === 'off' ? o.reflect.off : o.reflect.on);
      o.history.push({ instance, action: a, control: o.control });
      return undefined;
    },
  };
}

/** Eaton / HPE: one column per action taking a delay in seconds (0 = now, -1 = cancel). */
function delayed(o: { columns: Record<Action, string>; view: StatusView & { pendingOn: number; pendingOff: number }; history: History }): Rule[] {
  return (Object.entries(o.columns) as [Action, string][]).map(([a, col]) => ({
    control: col,
    handle(agent, instance, v) {
      if (v.type !== T.Integer) return ErrorStatus.wrongType;
      const delay = v.value as number;
      if (delay < -1) return ErrorStatus.wrongValue;
      const status = `${o.view.col}.${instance}`;
      if (!agent.data.has(status)) return ErrorStatus.noCreation;
      if (delay === -1) return undefined;
      if (delay > 0) setInt(agent, status, a === 'off' ? o.view.pendingOff : o.view.pendingOn);
      else setInt(agent, status, a === 'off' ? o.view.off : o.view.on);
      o.history.push({ instance, action: a, control: col });
      return undefined;
    },
  }));
}

/** The SET behaviour of every vendor family, keyed by fixture name. */
export function behaviour(kind: string, history: History): Rule[] {
  const apcViews: StatusView[] = [
    { col: `${E}.318.1.1.12.3.5.1.1.4`, on: 1, off: 2 }, // rPDUOutletStatusOutletState
    { col: `${E}.318.1.1.26.9.2.3.1.5`, on: 2, off: 1 }, // rPDU2OutletSwitchedStatusState (inverted)
    { col: `${E}.318.1.1.4.4.2.1.3`, on: 1, off: 2 }, // sPDUOutletCtl
    { col: `${E}.318.1.1.12.3.3.1.1.4`, on: 1, off: 2 }, // rPDUOutletControlOutletCommand reads the state
  ];
  const apc = { 1: 'on', 2: 'off', 3: 'cycle' } as const;
  switch (kind) {
    case 'apc':
      return [
        command({ control: `${E}.318.1.1.12.3.3.1.1.4`, values: apc, views: apcViews, history }),
        command({ control: `${E}.318.1.1.26.9.2.4.1.5`, values: apc, views: apcViews, history }),
        command({ control: `${E}.318.1.1.4.4.2.1.3`, values: apc, views: apcViews, history }),
      ];
    case 'cyberpower':
      return [
        command({
          control: `${E}.3808.1.1.3.3.3.1.1.4`,
          values: apc,
          views: [{ col: `${E}.3808.1.1.3.3.5.1.1.4`, on: 1, off: 2 }],
          reflect: { on: 1, off: 2 },
          history,
        }),
      ];
    case 'raritan-px2':
      return [
        command({
          control: `${E}.13742.6.4.1.2.1.2`,
          values: { 0: 'off', 1: 'on', 2: 'cycle' },
          views: [
            { col: `${E}.13742.6.4.1.2.1.3`, on: 7, off: 8 },
            { col: `${E}.13742.6.5.4.3.1.3`, on: 7, off: 8, suffix: '14' },
          ],
          reflect: { on: 1, off: 0 },
          history,
        }),
      ];
    case 'raritan-px1':
      return [command({ control: `${E}.13742.4.1.2.2.1.3`, values: { 0: 'off', 1: 'on', 2: 'cycle' }, views: [{ col: `${E}.13742.4.1.2.2.1.3`, on: 1, off: 0 }], history })];
    case 'eaton':
      return delayed({
        columns: { off: `${E}.534.6.6.7.6.6.1.3`, on: `${E}.534.6.6.7.6.6.1.4`, cycle: `${E}.534.6.6.7.6.6.1.5` },
        view: { col: `${E}.534.6.6.7.6.6.1.2`, on: 1, off: 0, pendingOff: 2, pendingOn: 3 },
        history,
      });
    case 'hpe':
      return delayed({
        columns: { off: `${E}.232.165.7.5.2.1.2`, on: `${E}.232.165.7.5.2.1.3`, cycle: `${E}.232.165.7.5.2.1.4` },
        view: { col: `${E}.232.165.7.5.2.1.1`, on: 2, off: 1, pendingOff: 3, pendingOn: 4 },
        history,
      });
    case 'sentry3':
      return [command({ control: `${E}.1718.3.2.3.1.11`, values: { 1: 'on', 2: 'off', 3: 'cycle' }, views: [{ col: `${E}.1718.3.2.3.1.5`, on: 1, off: 0 }], history })];
    case 'sentry4':
      return [command({ control: `${E}.1718.4.1.8.5.1.2`, values: { 1: 'on', 2: 'off', 3: 'cycle' }, views: [{ col: `${E}.1718.4.1.8.3.1.1`, on: 1, off: 2 }], history })];
    case 'tripplite':
      return ['2', '4'].map((g) =>
        command({
          control: `${E}.850.1.1.3.${g}.3.3.1.1.6`,
          values: { 1: 'off', 2: 'on', 3: 'cycle' },
          views: [{ col: `${E}.850.1.1.3.${g}.3.3.1.1.4`, on: 2, off: 1 }],
          history,
        }),
      );
    case 'if-mib':
      return [command({ control: '1.3.6.1.2.1.2.2.1.7', values: { 1: 'on', 2: 'off' }, views: [{ col: '1.3.6.1.2.1.2.2.1.7', on: 1, off: 2 }], history })];
    default:
      throw new Error(`no behaviour "${kind}"`);
  }
}

/** An `onSet` for a test agent: the first rule whose control column holds the OID decides. */
export function onSetFor(rules: readonly Rule[]): (oid: string, v: Value, agent: TestAgent) => number | undefined {
  return (oid, v, agent) => {
    const rule = rules.find((r) => oid.startsWith(`${r.control}.`));
    if (!rule) return agent.data.has(oid) ? ErrorStatus.notWritable : ErrorStatus.noCreation;
    return rule.handle(agent, oid.slice(rule.control.length + 1), v);
  };
}
