/**
 * The `snmp` UPS source's definition: its config keys (the SNMP ones of snmp-pdu) and checks,
 * without the SNMP code (index.ts) that config loading and `config check` need not load.
 */
import { sketchDriver } from '../types.js';
import { snmpTemplate } from '../snmp-pdu/definition.js';

const {
  host,
  port,
  version,
  community,
  user,
  auth_protocol,
  auth_password,
  priv_protocol,
  priv_password,
  request_timeout,
} = snmpTemplate;
export const upsMibTemplate = { host, port, version, community, user, auth_protocol, auth_password, priv_protocol, priv_password, request_timeout };

export const upsMibSketch = sketchDriver({
  kind: 'ups',
  type: 'snmp',
  description: 'UPS with a network card serving the standard UPS-MIB (RFC 1628) over SNMP v1, v2c or v3.',
  template: upsMibTemplate,
  check: (spec) =>
    spec.version === '3' && !spec.user ? [{ key: 'version', message: 'SNMPv3 needs a user', hint: 'Add user = … (and auth_password, priv_password as the UPS card requires).' }] : [],
});
