/**
 * `redfish` and `redfish-graceful`'s definitions: their config keys and the TLS checks, without
 * the HTTPS client (index.ts) that config loading and `config check` need not load.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bool, duration, secret, select, str, type Infer } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

export const redfishTemplate = {
  url: str({ required: true, pattern: /^https?:\/\/[^/\s]+\/?$/, patternHelp: 'the BMC’s base URL, such as https://bmc-1.lab.example', help: 'Base URL of the BMC (https://host[:port]).' }),
  user: str({ required: true, help: 'BMC user.' }),
  password: secret({ required: true, help: 'BMC password. Never logged.' }),
  auth: select({ choices: ['session', 'basic'], default: 'session', help: 'session: log in once (X-Auth-Token) and log out on stop; basic: credentials on every request.' }),
  system: str({ help: 'ComputerSystem path, e.g. /redfish/v1/Systems/1 (default: the only or first member of /redfish/v1/Systems).' }),
  ca_file: str({ help: 'PEM file of the CA that signed the BMC’s certificate.' }),
  fingerprint: str({
    pattern: /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/,
    patternHelp: 'a SHA-256 fingerprint as AA:BB:…(32 bytes)',
    help: 'Pinned SHA-256 fingerprint of the BMC’s certificate (openssl x509 -noout -fingerprint -sha256), for self-signed BMC certificates.',
  }),
  insecure: bool({ default: false, help: 'Do not check the BMC’s certificate at all (warned at start; prefer fingerprint).' }),
  request_timeout: duration({ min: 100, max: 120_000, default: 10_000, help: 'Time limit of one HTTP request.' }),
};

type Spec = Infer<typeof redfishTemplate>;

const checkTls = (spec: Spec): { key: string; message: string; hint: string }[] => {
  const p: { key: string; message: string; hint: string }[] = [];
  if (spec.insecure && (spec.ca_file || spec.fingerprint)) p.push({ key: 'insecure', message: 'insecure = true with ca_file or fingerprint', hint: 'Remove insecure: a CA file or a pinned fingerprint already trusts the BMC.' });
  if (spec.ca_file) {
    try {
      new X509Certificate(readFileSync(spec.ca_file));
    } catch (err) {
      p.push({ key: 'ca_file', message: `ca_file ${spec.ca_file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint: 'Give a readable PEM certificate.' });
    }
  }
  return p;
};

export const redfishSketch = sketchDriver({
  kind: 'outlet',
  type: 'redfish',
  description: 'A server’s BMC over Redfish: one outlet, the ComputerSystem’s power (On, ForceOff, PowerCycle).',
  template: redfishTemplate,
  outletCount: () => 1,
  check: checkTls,
});

export const redfishGracefulSketch = sketchDriver({
  kind: 'controller',
  type: 'redfish-graceful',
  description: 'Asks the OS to shut down through the BMC (Redfish ResetType GracefulShutdown).',
  template: redfishTemplate,
  check: checkTls,
});
