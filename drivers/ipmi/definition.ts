/**
 * `ipmi` and `ipmi-soft`'s definitions: their config keys and the password check, without the
 * ipmitool and ipmipower code (index.ts) that config loading and `config check` need not load.
 */
import { bool, int, secret, select, str, type Infer } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

export const ipmiTemplate = {
  host: str({ required: true, help: 'Address of the BMC (its own management address, not the server’s).' }),
  port: int({ min: 1, max: 65535, default: 623, help: 'RMCP port of the BMC.' }),
  user: str({ required: true, help: 'BMC user.' }),
  password: secret({ required: true, help: 'BMC password; handed to ipmitool through its environment, never on its command line. Never logged.' }),
  interface: select({ choices: ['lanplus', 'lan'], default: 'lanplus', help: 'lanplus (IPMI 2.0, RMCP+); lan only for IPMI 1.5 BMCs.' }),
  cipher_suite: int({ min: 0, max: 17, default: 17, help: 'RMCP+ cipher suite: 17 (SHA-256/AES) on current BMCs, 3 on older ones. Naming it avoids a slow negotiation.' }),
  privilege: select({ choices: ['ADMINISTRATOR', 'OPERATOR', 'USER'], default: 'ADMINISTRATOR', help: 'Session privilege (power control needs OPERATOR or more).' }),
  request_timeout: int({ min: 1, max: 60, default: 2, help: 'Seconds ipmitool waits for each answer (-N).' }),
  request_retries: int({ min: 0, max: 10, default: 1, help: 'Times ipmitool resends a request (-R).' }),
  backend: select({
    choices: ['auto', 'ipmitool', 'ipmipower'],
    default: 'auto',
    help:
      'Status reads: ipmipower (FreeIPMI) asks every BMC with the same credentials in one process; auto uses it when installed, and for a BMC that refuses its privilege request retries once with workarounds = opensesspriv, then reads that BMC through ipmitool. Switching always uses ipmitool.',
  }),
  workarounds: str({ default: '', help: 'FreeIPMI workaround flags for ipmipower (-W), e.g. opensesspriv for some BMCs (backend = auto finds that one by itself).' }),
  diagnose: bool({ default: true, help: 'When a session cannot be set up, ask once more with -v (a status query, which changes nothing) to tell a wrong password from a BMC that does not answer.' }),
};

type Spec = Infer<typeof ipmiTemplate>;

/** The longest password IPMI carries: 20 bytes in IPMI 2.0 (lanplus), 16 in IPMI 1.5 (lan). */
export const maxPasswordBytes = (s: Pick<Spec, 'interface'>): number => (s.interface === 'lan' ? 16 : 20);
export const passwordHint = (s: Pick<Spec, 'interface'>): string =>
  `Set a password of at most ${maxPasswordBytes(s)} bytes on the BMC and in password = (a non-ASCII character takes 2 to 4 bytes).`;

/**
 * `config check`: a password IPMI cannot carry is a config error at the password line, not a
 * BMC that fails at run time with a misleading reason. Never echoes the password, nor its length.
 */
function checkIpmi(spec: Spec): { key: string; message: string; hint: string }[] {
  const max = maxPasswordBytes(spec);
  if (Buffer.byteLength(spec.password.reveal(), 'utf8') <= max) return [];
  return [{ key: 'password', message: `password is longer than ${max} bytes (UTF-8), the ${spec.interface === 'lan' ? 'IPMI 1.5 (interface = lan)' : 'IPMI 2.0'} limit`, hint: passwordHint(spec) }];
}

export const ipmiSketch = sketchDriver({
  kind: 'outlet',
  type: 'ipmi',
  description: 'A server’s BMC over IPMI (ipmitool lanplus): one outlet, the chassis power; native cycle.',
  template: ipmiTemplate,
  outletCount: () => 1,
  check: checkIpmi,
});

export const ipmiSoftSketch = sketchDriver({
  kind: 'controller',
  type: 'ipmi-soft',
  description: 'Asks the OS to shut down through the BMC (IPMI chassis soft-off, ACPI).',
  template: ipmiTemplate,
  check: checkIpmi,
});
