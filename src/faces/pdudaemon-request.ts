/**
 * What a PDUDaemon HTTP request asks for, read the way PDUDaemon reads it
 * (pdudaemon/httplistener.py and listener.py, Debian 0.0.8.58): the command is the last path
 * segment, `hostname`, `port`, `delay` and `alias` come from the query (the first non-empty value
 * of each, as `urllib.parse.parse_qs` gives them), `reboot` defaults to a 5 s delay and on/off
 * to none. Pure: the lab is passed in, nothing is switched here.
 *
 * Where PDUDaemon would act on bad input, this refuses before anything moves: a delay that is
 * not a whole number (PDUDaemon has already switched the port off when `int(delay)` throws), a
 * port the PDU does not have (PDUDaemon hands any number to its driver), a negative delay.
 */

export type PduCommand = 'on' | 'off' | 'reboot';

/** The longest delay accepted (PDUDaemon has no limit; an hour is already a mistake in a CI lab). */
export const MAX_DELAY_S = 3600;

/** What the face needs to know of the lab to check a request. */
export interface PduLab {
  /** Outlet count of a device, 0 when not known yet (never read), undefined for no such device. */
  outletCount(device: string): number | undefined;
  hasServer(name: string): boolean;
}

export type PduTarget =
  | { readonly kind: 'outlet'; readonly device: string; readonly outlet: number }
  | { readonly kind: 'server'; readonly server: string };

export type PduRequest =
  | { readonly ok: true; readonly command: PduCommand; readonly target: PduTarget; readonly delayS: number }
  | { readonly ok: false; readonly why: string };

const COMMANDS: readonly string[] = ['on', 'off', 'reboot'];

/** The command of a request path, or null when PDUDaemon has no route for it (404). */
export function commandOf(pathname: string): PduCommand | null {
  const m = /^\/power\/control\/([a-z]+)$/.exec(pathname);
  return m && COMMANDS.includes(m[1]!) ? (m[1] as PduCommand) : null;
}

/** The first non-empty value of a query parameter (parse_qs drops blank values). */
export function firstValue(query: URLSearchParams, key: string): string | undefined {
  return query.getAll(key).find((v) => v !== '');
}

/** Reads and checks one request against the lab; `serversHostname` is the hostname that names ockle itself. */
export function readPduRequest(command: PduCommand, query: URLSearchParams, lab: PduLab, serversHostname: string): PduRequest {
  const hostname = firstValue(query, 'hostname');
  const port = firstValue(query, 'port');
  const delay = firstValue(query, 'delay');
  if (firstValue(query, 'alias') !== undefined) return { ok: false, why: 'alias= is not supported: name hostname= and port=' };
  if (hostname === undefined || port === undefined) return { ok: false, why: 'hostname= and port= are both needed' };
  let delayS = command === 'reboot' ? 5 : 0;
  if (delay !== undefined) {
    if (!/^\d+$/.test(delay.trim()) || Number(delay) > MAX_DELAY_S) return { ok: false, why: `delay=${delay} is not a whole number of seconds from 0 to ${MAX_DELAY_S}` };
    delayS = Number(delay);
  }
  if (hostname === serversHostname) {
    if (!lab.hasServer(port)) return { ok: false, why: `no server "${port}"` };
    return { ok: true, command, target: { kind: 'server', server: port }, delayS };
  }
  const count = lab.outletCount(hostname);
  if (count === undefined) return { ok: false, why: `no device "${hostname}"` };
  if (!/^\d+$/.test(port.trim())) return { ok: false, why: `port=${port} is not an outlet number` };
  const outlet = Number(port);
  if (outlet < 1 || (count > 0 && outlet > count)) return { ok: false, why: `${hostname} has no outlet ${outlet}` };
  return { ok: true, command, target: { kind: 'outlet', device: hostname, outlet }, delayS };
}
