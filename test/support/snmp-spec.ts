/** A full snmp-pdu device spec for tests: the template's defaults, loopback, test communities. */
import { snmpPduDriver, type SnmpSpec } from '../../drivers/snmp-pdu/index.js';
import { Secret } from '../../src/config/types.js';

export function snmpSpec(over: Partial<Record<keyof SnmpSpec, unknown>>): SnmpSpec {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(snmpPduDriver.template)) if (v.default !== undefined) d[k] = v.default;
  return { ...d, host: '127.0.0.1', community: new Secret('public'), write_community: new Secret('private'), request_timeout: 300, ...over } as SnmpSpec;
}
