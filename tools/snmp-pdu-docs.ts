/**
 * docs/snmp-pdu.md, generated from the profiles, so the page and the code cannot disagree.
 * A development tool: `npm run docs`, or after a build `node dist/tools/snmp-pdu-docs.js > docs/snmp-pdu.md`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../drivers/snmp-pdu/profile.js';
import { PROFILES } from '../drivers/snmp-pdu/profiles/index.js';

const values = (m: Readonly<Record<number, string>>): string =>
  Object.entries(m)
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

function profileSection(p: Profile): string {
  const c = p.control;
  const cmd = (a: 'on' | 'off' | 'cycle'): string => (c[a] ? `\`${c[a].oid}\` = ${c[a].value}` : '— (off, `cycle_delay`, on)');
  const metering = p.metering
    ? Object.entries(p.metering)
        .map(([k, m]) => `${k}: \`${m.oid}\`${m.suffix ? ` (… .${m.suffix})` : ''} × ${m.scale}`)
        .join('; ')
    : 'none per outlet in this MIB';
  return [
    `### \`${p.name}\`: ${p.title}`,
    '',
    `- MIB: ${p.mib}`,
    ...(p.firmware ? [`- Firmware: ${p.firmware}`] : []),
    `- Detected by sysObjectID: ${p.sysObjectIds.map((s) => `\`${s}\``).join(', ') || '— (choose it in the device file)'}`,
    `- Outlet instance: \`.${p.instance(7, 3).replace('7', 'N').replace(/^3\.|\.3\./, (m) => m.replace('3', 'U'))}\` (default unit ${p.defaultUnit})`,
    `- Status: \`${p.status.oid}\` → ${values(p.status.values)}${p.pending ? `; pending column \`${p.pending.oid}\` = ${p.pending.values.join('/')} reads as switching` : ''}`,
    `- Commands: on ${cmd('on')}; off ${cmd('off')}; cycle ${cmd('cycle')}`,
    `- Outlet count: ${p.outletCount ? `\`${p.outletCount}\`` : 'walked from the status column'}; names: ${p.names?.map((n) => `\`${n}\``).join(', then ') ?? '—'}`,
    `- Metering: ${metering}`,
    '',
  ].join('\n');
}

export function renderSnmpDocs(): string {
  return [
    '# SNMP PDUs (`type = snmp-pdu`)',
    '',
    '<!-- Generated from drivers/snmp-pdu/profiles by tools/snmp-pdu-docs.ts. Do not edit. -->',
    '',
    'One device file per PDU. ockle reads every outlet of a PDU in one round trip (a GETBULK of the',
    'status column, or one GET of many varbinds on SNMPv1), polls all PDUs at once every',
    '`poll_interval`, and switches with one SET that it never re-sends; the result is confirmed',
    'by reading the outlet back until it shows the wanted state or `confirm_timeout` passes.',
    'Values a PDU reports while a command is pending read as `switching`, never as on or off;',
    'a PDU that does not answer turns its outlets `unknown`.',
    '',
    'Ask a PDU what it is before you wire servers to it (no daemon needed, never switches):',
    '',
    '```',
    'ockle devices probe rack-a',
    '```',
    '',
    '## Examples',
    '',
    '```ini',
    '; devices/rack-a.ini: SNMP v2c, profile found from sysObjectID',
    '[device]',
    'type = snmp-pdu',
    'host = pdu-a.lab.example',
    'community = public',
    'write_community = private',
    '```',
    '',
    '```ini',
    '; devices/rack-b.ini: SNMPv3 authPriv (SHA-256 + AES), second unit of a daisy chain',
    '[device]',
    'type = snmp-pdu',
    'host = pdu-b.lab.example',
    'version = 3',
    'user = ockle',
    'auth_protocol = sha256',
    'auth_password = a long passphrase',
    'priv_protocol = aes',
    'priv_password = another long passphrase',
    'profile = eaton-epdu',
    'unit = 1',
    '```',
    '',
    '```ini',
    '; devices/poe-switch.ini: anything with a status and a control column, here PoE ports',
    '[device]',
    'type = snmp-pdu',
    'host = poe-switch.lab.example',
    'profile = generic',
    'status_oid = 1.3.6.1.2.1.105.1.1.1.3',
    'status_on = 1',
    'status_off = 2',
    'control_oid = 1.3.6.1.2.1.105.1.1.1.3',
    'control_on = 1',
    'control_off = 2',
    'instance = 1.{n}',
    'outlets = 24',
    '```',
    '',
    'Communities and passwords are `secret` keys: they are never logged, printed or returned by',
    'the API. Every key is in [config.md](config.md) (outlet `type = snmp-pdu`).',
    '',
    '## Profiles',
    '',
    '`profile = auto` (the default) reads sysObjectID, tries the profiles whose prefix matches',
    '(longest first), and keeps the first whose status column answers; with no match it tries',
    'them all in the order below.',
    '',
    ...PROFILES.map(profileSection),
  ].join('\n');
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) process.stdout.write(renderSnmpDocs());
