/**
 * Debian's mosquitto on 127.0.0.1 as the real broker of the mqtt tests, with a generated config
 * of three listeners on free ports:
 * - `anon`: anonymous, no ACL (what a home lab's broker often is);
 * - `auth`: a password file (hashed by mosquitto_passwd, never on a command line) and an ACL:
 *   the gateway user owns ockle/# and homeassistant/#, `homeassistant` writes the plain set
 *   topics, everyone writes only their own ockle/+/user/%u/# (docs/mqtt.md's example);
 * - `tls`: the same users over TLS, with a CA and a server certificate for IP 127.0.0.1 made by
 *   openssl for the run.
 * Persistence is on (retained messages survive `restart()`), as on a real broker. The
 * mosquitto_pub / mosquitto_sub helpers are independent clients; their credentials go through
 * an options file (XDG_CONFIG_HOME), never argv.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The broker's users and their passwords (test-only). */
export const MQTT_USERS = {
  gw: 'gw-secret-7d1c',
  'gw-b': 'gwb-secret-1f2e',
  'gw-c': 'gwc-secret-3a4b',
  alice: 'alice-pass-51',
  homeassistant: 'ha-pass-88',
  mallory: 'mallory-pass-13',
} as const;
export type MqttUser = keyof typeof MQTT_USERS;

export interface Mosquitto {
  readonly host: '127.0.0.1';
  readonly ports: { readonly anon: number; readonly auth: number; readonly tls: number };
  readonly dir: string;
  /** The test CA's certificate (PEM file), for mqtts:// clients. */
  readonly caFile: string;
  /** A CA that did not sign the broker's certificate. */
  readonly otherCaFile: string;
  /** SIGTERM and wait (the broker saves its retained messages); `start()` brings it back on the same ports. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
  /** mosquitto_pub once; resolves with its exit code and stderr. */
  pub(o: PubOptions): Promise<{ code: number; stderr: string }>;
  /** mosquitto_sub in the background, resolved once it is subscribed: every message as it arrives. */
  sub(o: SubOptions): Promise<Subscription>;
}

export interface PubOptions {
  readonly topic: string;
  readonly message?: string;
  /** Send the contents of this file (large payloads). */
  readonly file?: string;
  readonly user?: MqttUser;
  readonly v5?: boolean;
  readonly retain?: boolean;
  readonly responseTopic?: string;
  readonly correlation?: string;
  readonly qos?: 0 | 1;
}
export interface SubOptions {
  readonly topics: readonly string[];
  readonly user?: MqttUser;
  readonly v5?: boolean;
  /** Also deliver retained messages (default true). */
  readonly retained?: boolean;
  /**
   * The subscription's QoS (default 1). Mosquitto queues at most max_queued_messages (1000)
   * QoS 1 messages for a client beyond its in-flight window and drops the rest: a subscription
   * matching more retained messages than that, the ready marker last among them, is made at 0.
   */
  readonly qos?: 0 | 1;
}
export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly retained: boolean;
  readonly correlation: string;
  /** performance.now() when its line was read from mosquitto_sub (benchmarks). */
  readonly at: number;
}
export interface Subscription {
  readonly messages: Received[];
  /** Resolves with the first message (from now or already received after `from`) matching `pred`. */
  next(pred: (m: Received) => boolean, o?: { from?: number; timeoutMs?: number; what?: string }): Promise<Received>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A CA, and a server certificate it signs for IP 127.0.0.1 (SAN), in `dir`. */
function makeCerts(dir: string): void {
  for (const ca of ['ca', 'other-ca']) {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=ockle test ${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.crt`], dir);
  }
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr'], dir);
  spawnSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1\\n" > san.ext'], { cwd: dir });
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt'], dir);
}

const ACL = `# docs/mqtt.md's example: the gateway owns its tree and its Home Assistant configs
user gw
topic readwrite ockle/#
topic readwrite homeassistant/#

user gw-b
topic readwrite ockle/#
topic readwrite homeassistant/#

user gw-c
topic readwrite ockle/#
topic readwrite homeassistant/#

# Home Assistant: reads everything of ockle, writes the plain set topics (acting as itself)
user homeassistant
topic read ockle/#
topic read homeassistant/#
topic write ockle/+/server/+/set
topic write ockle/+/outlet/+/+/set

user alice
topic read ockle/#

user mallory
topic read ockle/#

# Everyone writes commands only under their own name, and reads their replies there
pattern readwrite ockle/+/user/%u/#
`;

/** @param o.acl the auth listener's ACL file instead of the default one (the federation test runs docs/mqtt.md's per-gateway ACL) */
export async function startMosquitto(o: { readonly acl?: string } = {}): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'ockle-mosquitto-'));
  await mkdir(join(dir, 'data'));
  makeCerts(dir);
  const passwd = join(dir, 'passwd');
  await writeFile(passwd, Object.entries(MQTT_USERS).map(([u, p]) => `${u}:${p}`).join('\n') + '\n');
  const hashed = spawnSync('mosquitto_passwd', ['-U', passwd], { encoding: 'utf8' });
  if (hashed.status !== 0) throw new Error(`mosquitto_passwd -U failed: ${hashed.stderr}`);
  await writeFile(join(dir, 'acl'), o.acl ?? ACL);
  const ports = { anon: await freePort(), auth: await freePort(), tls: await freePort() };
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'per_listener_settings true',
      // Runs as root in CI: stay root (the files are the test's), do not drop to "mosquitto".
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      // Each message on the wire at once, as a broker for control traffic should (docs/mqtt.md).
      'set_tcp_nodelay true',
      'persistence true',
      `persistence_location ${dir}/data/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
      `listener ${ports.anon} 127.0.0.1`,
      'allow_anonymous true',
      '',
      `listener ${ports.auth} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      `acl_file ${join(dir, 'acl')}`,
      '',
      `listener ${ports.tls} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      `acl_file ${join(dir, 'acl')}`,
      `cafile ${join(dir, 'ca.crt')}`,
      `certfile ${join(dir, 'server.crt')}`,
      `keyfile ${join(dir, 'server.key')}`,
      '',
    ].join('\n'),
  );
  // Per-user option files for mosquitto_pub/sub: credentials never on their command line.
  for (const [u, p] of Object.entries(MQTT_USERS)) {
    const xdg = join(dir, 'clients', u);
    await mkdir(xdg, { recursive: true });
    for (const tool of ['mosquitto_pub', 'mosquitto_sub']) {
      await writeFile(join(xdg, tool), `-u ${u}\n-P ${p}\n`);
      await chmod(join(xdg, tool), 0o600);
    }
  }
  await mkdir(join(dir, 'clients', 'anonymous'), { recursive: true });

  let child: ChildProcess | null = null;
  let stderr = '';
  const start = async (): Promise<void> => {
    stderr = '';
    const c = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Ready when every listener accepts a connection.
    const t0 = Date.now();
    for (const port of Object.values(ports)) {
      for (;;) {
        if (c.exitCode !== null) throw new Error(`mosquitto exited (${c.exitCode}): ${stderr}`);
        const ok = await new Promise<boolean>((resolve) => {
          const s = new Socket();
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('error', () => resolve(false));
          s.connect(port, '127.0.0.1');
        });
        if (ok) break;
        if (Date.now() - t0 > 10_000) throw new Error(`mosquitto did not listen on ${port} within 10 s: ${stderr}`);
        await new Promise((r) => setTimeout(r, 30));
      }
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();

  const clientEnv = (user?: MqttUser): NodeJS.ProcessEnv => ({ ...process.env, XDG_CONFIG_HOME: join(dir, 'clients', user ?? 'anonymous') });
  const portFor = (user?: MqttUser): number => (user ? ports.auth : ports.anon);
  const subs = new Set<Subscription>();

  const broker: Mosquitto = {
    host: '127.0.0.1',
    ports,
    dir,
    caFile: join(dir, 'ca.crt'),
    otherCaFile: join(dir, 'other-ca.crt'),
    start,
    stop,
    async close() {
      for (const s of subs) await s.close();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    pub(o) {
      const args = ['-h', '127.0.0.1', '-p', String(portFor(o.user)), '-t', o.topic, '-q', '1', '-V', o.v5 === false ? 'mqttv311' : 'mqttv5'];
      if (o.file) args.push('-f', o.file);
      else args.push('-m', o.message ?? '');
      if (o.retain) args.push('-r');
      if (o.responseTopic) args.push('-D', 'publish', 'response-topic', o.responseTopic);
      if (o.correlation) args.push('-D', 'publish', 'correlation-data', o.correlation);
      return new Promise((resolve) => {
        const p = spawn('mosquitto_pub', args, { env: clientEnv(o.user), stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('exit', (code) => resolve({ code: code ?? -1, stderr: err }));
      });
    },
    async sub(o) {
      // A retained marker of the subscriber's own tells when its subscription is in place.
      const marker = `ockle/_ready/user/${o.user ?? 'anonymous'}/${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const r = await broker.pub({ topic: marker, message: 'ready', retain: true, ...(o.user && { user: o.user }) });
      if (r.code !== 0) throw new Error(`mosquitto_pub of the ready marker failed: ${r.stderr}`);
      // One line per message: retained flag, correlation data (hex), topic, payload length, payload.
      const args = ['-h', '127.0.0.1', '-p', String(portFor(o.user)), '-V', o.v5 === false ? 'mqttv311' : 'mqttv5', '-q', String(o.qos ?? 1), '-F', '%r\t%D\t%t\t%l\t%p'];
      for (const t of [...o.topics, marker]) args.push('-t', t);
      const p = spawn('mosquitto_sub', args, { env: clientEnv(o.user), stdio: ['ignore', 'pipe', 'pipe'] });
      const messages: Received[] = [];
      const waiters = new Set<() => void>();
      // Bytes, not text: a chunk may end inside a UTF-8 character, and lengths are in bytes.
      let buf: Buffer = Buffer.alloc(0);
      p.stdout.on('data', (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        let at = 0;
        for (;;) {
          const nl = buf.indexOf(0x0a, at);
          if (nl < 0) break;
          // The header is the line up to the fourth tab; a payload may hold newlines, so it is
          // taken by its length (in bytes) after the header.
          let end = at - 1;
          for (let tabs = 0; tabs < 4 && (tabs === 0 || end >= 0); tabs++) end = buf.indexOf(0x09, end + 1);
          if (end < 0) break;
          const [r, corr, topic, len] = buf.subarray(at, end).toString('utf8').split('\t');
          const start = end + 1;
          if (buf.length < start + Number(len) + 1) break;
          const payload = buf.subarray(start, start + Number(len)).toString('utf8');
          at = start + Number(len) + 1;
          // retained: false drops what the broker held before (mosquitto_sub -R would drop the marker too).
          if (o.retained === false && r === '1' && topic !== marker) continue;
          messages.push({ topic: topic!, payload, retained: r === '1', correlation: corr ?? '', at: performance.now() });
          for (const w of waiters) w();
        }
        buf = buf.subarray(at);
      });
      const sub: Subscription = {
        messages,
        next(pred, n = {}) {
          const from = n.from ?? 0;
          return new Promise((resolve, reject) => {
            const check = (): boolean => {
              const m = messages.slice(from).find(pred);
              if (m) {
                waiters.delete(check);
                clearTimeout(timer);
                resolve(m);
                return true;
              }
              return false;
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              reject(new Error(`no MQTT message: ${n.what ?? 'matching'} within ${n.timeoutMs ?? 15_000} ms; got ${messages.length}: ${messages.slice(-5).map((m) => `${m.topic} ${m.payload.slice(0, 80)}`).join(' | ')}`));
            }, n.timeoutMs ?? 15_000);
            waiters.add(check);
            check();
          });
        },
        close: () =>
          new Promise<void>((resolve) => {
            subs.delete(sub);
            if (p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
          }),
      };
      subs.add(sub);
      await sub.next((m) => m.topic === marker, { what: 'the subscriber ready marker' });
      messages.splice(messages.findIndex((m) => m.topic === marker), 1);
      return sub;
    },
  };
  return broker;
}
