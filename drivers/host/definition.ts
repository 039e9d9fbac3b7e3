/**
 * The host checks' and the `command` control's definitions: their config keys, without the
 * sockets, HTTP clients and child processes (testers.ts, controllers.ts) that config loading and
 * `config check` need not load.
 */
import { bool, int, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

export const commandKey = str({ required: true, help: 'Program and arguments, split like a shell splits words (quotes work) but run without a shell.' });

export const commandControllerSketch = sketchDriver({
  kind: 'controller',
  type: 'command',
  description: 'Runs a local program (no shell) that asks the server to shut down; exit 0 = accepted.',
  template: { command: commandKey },
});

export const tcpTesterSketch = sketchDriver({
  kind: 'tester',
  type: 'tcp',
  usesServerHost: true,
  description: 'Passes when host:port accepts a TCP connection.',
  template: {
    host: str({ help: 'Host to connect to (default: the server’s host).' }),
    port: int({ min: 1, max: 65535, required: true, help: 'TCP port, e.g. 22 or 5432.' }),
  },
});

export const httpTesterSketch = sketchDriver({
  kind: 'tester',
  type: 'http',
  description: 'Passes when a URL answers with an expected status (and body).',
  template: {
    url: str({ required: true, pattern: /^https?:\/\/\S+$/, patternHelp: 'an http:// or https:// URL', help: 'URL to GET; {host} is replaced by the server’s host.' }),
    expect_status: str({ default: '2xx', pattern: /^(\dxx|\d{3})(\s*,\s*(\dxx|\d{3}))*$/i, patternHelp: 'status codes or classes such as 200, 204 or 2xx', help: 'Statuses that pass.' }),
    body_match: str({ help: 'Regular expression the body must match (first 64 KiB).' }),
    ca_file: str({ help: 'PEM file of the CA that signs the server’s certificate (self-signed lab CAs).' }),
    insecure: bool({ default: false, help: 'Skip TLS certificate checks (not recommended; prefer ca_file).' }),
  },
});

export const pingTesterSketch = sketchDriver({
  kind: 'tester',
  type: 'ping',
  usesServerHost: true,
  description: 'Passes when the host answers ICMP echo (the system ping).',
  template: {
    host: str({ help: 'Host to ping (default: the server’s host).' }),
    count: int({ min: 1, max: 10, default: 1, help: 'Echo requests; one reply passes.' }),
    wait: int({ min: 1, max: 30, default: 1, help: 'Seconds to wait for each reply.' }),
  },
});

export const commandTesterSketch = sketchDriver({
  kind: 'tester',
  type: 'command',
  description: 'Passes when a local program exits 0 (no shell).',
  template: { command: commandKey, time_limit: int({ min: 1, max: 600, default: 10, help: 'Seconds before the program is killed (also bounded by timeout).' }) },
});
