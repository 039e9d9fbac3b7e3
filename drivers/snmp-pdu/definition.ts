/**
 * `snmp-pdu`'s definition: its config keys and checks, without the SNMP code and the vendor
 * profiles (index.ts, profiles/) that config loading and `config check` need not load.
 */
import { duration, int, list, secret, select, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

/**
 * The names of the vendor profiles in profiles/index.ts (PROFILE_NAMES), written out so that the
 * definition does not load every profile; test/drivers/lazy-drivers.test.ts keeps the two equal.
 */
export const SNMP_PROFILE_NAMES = ['apc-rpdu', 'apc-rpdu2', 'apc-spdu', 'raritan-px2', 'raritan-px1', 'eaton-epdu', 'hpe-epdu', 'cyberpower', 'sentry4', 'sentry3', 'tripplite', 'tripplite-pa15'] as const;

const OID = /^\.?\d+(\.\d+)+$/;
const oid = (help: string) => str({ help, pattern: OID, patternHelp: 'a numeric OID such as 1.3.6.1.4.1.318.1.1.12.3.5.1.1.4' });

export const snmpTemplate = {
  host: str({ required: true, restart: true, help: 'Address of the PDU’s SNMP agent (name or IP).' }),
  port: int({ min: 1, max: 65535, default: 161, help: 'UDP port of the agent.' }),
  version: select({ choices: ['1', '2c', '3'], default: '2c', help: 'SNMP version.' }),
  community: secret({ help: 'v1/v2c community for reads (default "public"). Never logged.' }),
  write_community: secret({ help: 'v1/v2c community for switching, when it differs from `community`. Never logged.' }),
  user: str({ help: 'SNMPv3 user name (USM).' }),
  auth_protocol: select({ choices: ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'], default: 'sha', help: 'SNMPv3 authentication protocol (used when auth_password is set).' }),
  auth_password: secret({ help: 'SNMPv3 authentication passphrase; without it the user is noAuthNoPriv. Never logged.' }),
  priv_protocol: select({ choices: ['des', 'aes', 'aes256b', 'aes256r'], default: 'aes', help: 'SNMPv3 privacy (encryption) protocol (used when priv_password is set).' }),
  priv_password: secret({ help: 'SNMPv3 privacy passphrase; with auth_password the user is authPriv. Never logged.' }),
  profile: select({ choices: ['auto', ...SNMP_PROFILE_NAMES, 'generic'] as const, default: 'auto', help: 'Vendor profile; auto reads sysObjectID and probes the status column (see `ockle devices probe`).' }),
  unit: int({ min: 0, max: 64, help: 'Unit in a daisy chain, tower or PDU id, for profiles that index by it (default: the profile’s).' }),
  outlets: int({ min: 1, max: 512, help: 'Number of outlets; read from the PDU when not given.' }),
  request_timeout: duration({ min: 100, max: 60_000, default: 2000, help: 'How long one SNMP request waits for its answer.' }),
  max_varbinds: int({ min: 1, max: 500, default: 48, help: 'Varbinds per GET at most; a tooBig answer lowers it by itself.' }),
  status_oid: oid('generic: status column (outlet instance appended).'),
  status_on: list({ help: 'generic: status values meaning on.' }),
  status_off: list({ help: 'generic: status values meaning off.' }),
  status_switching: list({ help: 'generic: status values meaning a command is pending.' }),
  control_oid: oid('generic: control column (outlet instance appended).'),
  control_on: int({ min: -2147483648, max: 2147483647, help: 'generic: value to SET for on.' }),
  control_off: int({ min: -2147483648, max: 2147483647, help: 'generic: value to SET for off.' }),
  control_cycle: int({ min: -2147483648, max: 2147483647, help: 'generic: value to SET for a native cycle (otherwise off → cycle_delay → on).' }),
  name_oid: oid('generic: outlet name column.'),
  count_oid: oid('generic: scalar holding the number of outlets (full OID, with .0).'),
  instance: str({ default: '{n}', pattern: /^(\d+\.|\{unit\}\.)*\{n\}$/, patternHelp: 'an instance pattern such as {n}, 1.{n} or {unit}.{n}', help: 'generic: the outlet’s instance suffix.' }),
};

export const snmpPduSketch = sketchDriver({
  kind: 'outlet',
  type: 'snmp-pdu',
  description: 'Switched PDU over SNMP v1/v2c/v3 (APC, Raritan, Eaton, HPE, CyberPower, ServerTech, Tripp Lite, generic).',
  template: snmpTemplate,
  outletCount: (spec) => spec.outlets,
  check: (spec) => {
    const problems: { key: string; message: string; hint: string }[] = [];
    if (spec.version === '3' && !spec.user) problems.push({ key: 'version', message: 'SNMPv3 needs a user', hint: 'Add user = … (and auth_password, priv_password for authNoPriv / authPriv).' });
    if (spec.priv_password && !spec.auth_password)
      problems.push({ key: 'priv_password', message: 'priv_password needs auth_password (SNMPv3 has no privacy without authentication)', hint: 'Add auth_password = … or remove priv_password.' });
    if (spec.version !== '3' && (spec.user || spec.auth_password || spec.priv_password))
      problems.push({ key: spec.user ? 'user' : spec.auth_password ? 'auth_password' : 'priv_password', message: `SNMPv3 keys with version = ${spec.version}`, hint: 'Set version = 3, or remove user, auth_password and priv_password.' });
    if (spec.profile === 'generic') {
      for (const k of ['status_oid', 'control_oid', 'control_on', 'control_off'] as const)
        if (spec[k] === undefined) problems.push({ key: 'profile', message: `profile = generic needs ${k}`, hint: `Add ${k} = … (see docs/config.md, snmp-pdu).` });
      if (!spec.status_on?.length || !spec.status_off?.length) problems.push({ key: 'profile', message: 'profile = generic needs status_on and status_off', hint: 'List the status values that mean on and off, e.g. status_on = 1 and status_off = 2.' });
      for (const k of ['status_on', 'status_off', 'status_switching'] as const)
        if (spec[k]?.some((v) => !/^-?\d+$/.test(v))) problems.push({ key: k, message: `${k} must list whole numbers`, hint: `For example ${k} = 1, 3.` });
    } else {
      const genericKeys = (['status_oid', 'status_on', 'status_off', 'status_switching', 'control_oid', 'control_on', 'control_off', 'control_cycle', 'name_oid', 'count_oid'] as const).filter((k) => spec[k] !== undefined);
      if (genericKeys.length > 0) problems.push({ key: genericKeys[0]!, message: `${genericKeys.join(', ')} only apply to profile = generic`, hint: 'Set profile = generic, or remove them.' });
    }
    return problems;
  },
});
