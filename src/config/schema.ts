/**
 * Every section and key of ockle's configuration, declared once. Types are inferred from
 * these declarations; docs/config.md and `ockle config check` are rendered from them.
 * Driver keys live in each driver's own template (drivers/…), plugin keys in each plugin's.
 */
import { bool, duration, int, list, listenPort, select, str, type Template } from './types.js';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
export const NAME_HELP = 'a name of lowercase letters, digits, "-" and "_"';

export const daemonTemplate = {
  state_dir: str({
    default: '',
    restart: true,
    help: 'Where the journal, tokens and driver state live. Relative to the config directory. Empty: $STATE_DIRECTORY (systemd) or ../state.',
  }),
  log_level: select({ choices: ['trace', 'debug', 'info', 'warn', 'error'], default: 'info', help: 'Least severe log level written.' }),
} satisfies Template;

export const apiTemplate = {
  listen: str({ default: '127.0.0.1', restart: true, help: 'Address the HTTP API binds to. Keep it on loopback unless a TLS proxy fronts it.' }),
  port: listenPort({ addressKey: 'listen', default: 8420, restart: true, help: 'TCP port of the HTTP API (0: any free port; the daemon publishes it in <state_dir>/api.json).' }),
  local_token: bool({ default: true, help: 'Write an admin token to <state_dir>/api-token (mode 0600) for the local `ockle` CLI.' }),
  anonymous_role: select({ choices: ['none', 'viewer'], default: 'none', help: 'Role of requests without a token: none (refused) or viewer (read-only).' }),
  tls: select({
    choices: ['off', 'auto', 'files'],
    restart: true,
    help: 'HTTPS for the API and dashboard. auto: a self-signed certificate made once in <state_dir> (`ockle api fingerprint` prints its SHA-256); files: tls_cert and tls_key; off: plain HTTP. Unset: files when tls_cert is set, else off. The files are read again on SIGHUP.',
  }),
  tls_cert: str({ restart: true, help: 'PEM certificate (chain) of the API, relative to the config directory or absolute.' }),
  tls_key: str({ restart: true, help: 'PEM private key of tls_cert; it must be readable by its owner only (chmod 600).' }),
  names: list({
    default: [],
    help: 'Host names and addresses clients reach the API by, besides loopback and the listen address: a request naming another Host is refused (DNS rebinding), and tls = auto puts these in its certificate.',
  }),
  redirect_port: listenPort({ addressKey: 'listen', restart: true, help: 'With TLS: a plain HTTP port that only redirects to the HTTPS one. Unset: none.' }),
  allow_plaintext: bool({
    default: false,
    help: 'Serve plain HTTP on an address beyond loopback (tokens travel in clear text). Refused unless set; warned at every start. Prefer tls = auto.',
  }),
  auth_failures: int({ min: 1, max: 100_000, default: 20, help: 'Failed authentications one client address may make within auth_window; past that its further failures get 429 with Retry-After (a valid token still works).' }),
  auth_window: duration({ min: 1000, max: 86_400_000, default: 60_000, help: 'The window auth_failures counts in.' }),
} satisfies Template;

/**
 * The PDUDaemon-compatible face (src/faces/pdudaemon.ts): its own listener, so LAVA and labgrid
 * keep the URL they already send. Applied on a reload (the listener moves if listen/port change).
 */
export const pdudaemonTemplate = {
  enabled: bool({ default: false, help: 'Serve PDUDaemon’s HTTP API (GET /power/control/{on,off,reboot}?hostname=DEVICE&port=N) for LAVA and labgrid (docs/integrations.md).' }),
  listen: str({ default: '127.0.0.1', help: 'Address the PDUDaemon face binds to.' }),
  port: listenPort({ addressKey: 'listen', default: 16421, help: 'TCP port of the PDUDaemon face (16421 is PDUDaemon’s own default; 0: any free port).' }),
  allow: list({
    default: ['127.0.0.1', '::1'],
    help: 'Client addresses served, each an IP address or a CIDR block (10.0.0.0/24); anyone else gets 403. PDUDaemon itself has no access control.',
  }),
  require_token: bool({
    default: false,
    help: 'Refuse requests without token=TOKEN in the query (an ockle token of role operator or admin). The token then travels in the URL: see docs/integrations.md for the risk.',
  }),
  servers_hostname: str({
    default: 'ockle',
    pattern: NAME_PATTERN,
    patternHelp: NAME_HELP,
    help: 'hostname= value that names ockle itself: port= is then a server, switched by a sequenced action (with its dependencies) instead of one outlet.',
  }),
} satisfies Template;

export const serverDefaultsTemplate = {
  max_attempts: int({ min: 1, max: 20, default: 3, help: 'Power-on attempts (with a power cycle between them) before a server is PERMANENTLY_FAILED_TO_START.' }),
  boot_timeout: duration({ min: 1000, default: 300_000, help: 'How long a server may take from power-on until all its tests pass.' }),
  shutdown_timeout: duration({ min: 1000, default: 180_000, help: 'How long a server may take from the shutdown request until its tests fail (the host is down).' }),
  test_interval: duration({ min: 10, default: 5000, help: 'How often a server’s tests run (and so how soon a booted server is noticed).' }),
  on_shutdown_timeout: select({ choices: ['cut', 'fail'], default: 'fail', help: 'When shutdown_timeout passes: cut the power anyway, or stop and report FAILED_TO_STOP.' }),
  remote_timeout: duration({
    min: 1000,
    default: 1_800_000,
    help: 'How long a server waits on another gateway (federation, docs/mqtt.md): for a server there it depends on to serve before it starts, for its dependents there to stop before it stops. While that gateway or the broker is offline it waits too, switching nothing; past this it fails.',
  }),
} satisfies Template;

export const pluginsTemplate = {
  enabled: list({ default: [], help: 'Plugins to run, by name; each may have a [plugins.NAME] section.' }),
  directories: list({
    default: ['plugins', '/usr/lib/ockle/plugins'],
    help: 'Where installed plugins are looked for, relative to this file or absolute: each NAME/ folder with a package.json, and each npm package in node_modules/ that declares one (docs/plugins.md). A directory that does not exist is skipped.',
  }),
  start_timeout: duration({ min: 100, max: 300_000, default: 10_000, help: 'A worker plugin not ready this long after it was started is terminated and restarted with backoff.' }),
  hang_timeout: duration({ min: 200, max: 300_000, default: 5000, help: 'A worker plugin whose thread sends no heartbeat this long (its event loop is blocked) is terminated and restarted.' }),
  stop_timeout: duration({ min: 100, max: 300_000, default: 5000, help: 'How long a worker plugin may take to stop (daemon stop, reload, restart) before it is terminated.' }),
  max_memory: int({ min: 32, max: 4096, default: 256, help: 'Memory in MB each worker plugin may use (its JavaScript heap plus its buffers); past it the plugin is terminated and restarted.' }),
} satisfies Template;

export const tokenTemplate = {
  role: select({ choices: ['viewer', 'operator', 'admin'], required: true, help: 'viewer reads; operator also switches; admin also sees the configuration.' }),
  sha256: str({
    required: true,
    pattern: /^[0-9a-f]{64}$/,
    patternHelp: '64 lowercase hex digits (the SHA-256 of the token)',
    help: 'SHA-256 of the token, as printed by `ockle token new`. The token itself is never stored.',
  }),
} satisfies Template;

export const deviceCommonTemplate = {
  type: str({ required: true, help: 'Driver type, e.g. sim.' }),
  description: str({ default: '', help: 'Free text shown in the API and the dashboard.' }),
  timeout: duration({ min: 10, default: 5000, help: 'Time limit of one operation on the device.' }),
  retries: int({ min: 0, max: 10, default: 2, help: 'Extra tries for a failed read (writes are never repeated blindly: they are verified by a read).' }),
  concurrency: int({ min: 1, max: 64, help: 'At most this many operations at once (never more than the driver allows).' }),
  poll_interval: duration({ min: 100, default: 10_000, help: 'How often all outlets are read to keep states fresh.' }),
  cycle_delay: duration({ min: 0, default: 5000, help: 'Off time of a cycle when the device cannot cycle natively.' }),
  confirm_timeout: duration({ min: 100, default: 30_000, help: 'How long an outlet may take to read back the requested state after a switch.' }),
  stagger: duration({ min: 0, default: 0, help: 'Pause between switch-ons on this device, against inrush current.' }),
} satisfies Template;

export const serverTemplate = {
  description: str({ default: '', help: 'Free text shown in the API and the dashboard.' }),
  host: str({ help: 'Host name or address of the server, used by testers and controllers that need one.' }),
  outlets: list({ default: [], help: 'Sections of this file that bind the server to device outlets.' }),
  controls: list({ default: [], help: 'Sections of this file that shut the server’s OS down cleanly.' }),
  tests: list({ default: [], help: 'Sections of this file that prove the server serves. All must pass.' }),
  dependencies: list({
    default: [],
    help: 'Servers that must be OK before this one starts (and that stop after it). GATEWAY:SERVER names a server of another gateway on the same MQTT broker (needs the mqtt plugin; docs/mqtt.md).',
  }),
  max_attempts: int({ min: 1, max: 20, help: 'Overrides [servers] max_attempts.' }),
  boot_timeout: duration({ min: 1000, help: 'Overrides [servers] boot_timeout.' }),
  shutdown_timeout: duration({ min: 1000, help: 'Overrides [servers] shutdown_timeout.' }),
  test_interval: duration({ min: 10, help: 'Overrides [servers] test_interval.' }),
  on_shutdown_timeout: select({ choices: ['cut', 'fail'], help: 'Overrides [servers] on_shutdown_timeout.' }),
  remote_timeout: duration({ min: 1000, help: 'Overrides [servers] remote_timeout.' }),
  keepalive: bool({
    default: false,
    help: 'When this server, brought up by ockle, fails its tests keepalive_failures runs in a row, auto-control power-cycles it (only it), with the max_attempts limit.',
  }),
  keepalive_failures: int({ min: 1, max: 100, default: 3, help: 'Consecutive failed test runs that trigger a keep-alive restart.' }),
  shed_priority: int({
    min: 1,
    max: 9,
    help: 'On a power cut, the UPS tier that sheds this server (1 first; docs/ups.md). Absent: kept on battery until the battery runs low.',
  }),
} satisfies Template;

/** `[ups]` of a config/ups/NAME.ini file, besides its source type's own keys. */
export const upsCommonTemplate = {
  type: str({ required: true, help: 'UPS source type: nut (Network UPS Tools upsd), snmp (UPS-MIB, RFC 1628) or sim.' }),
  description: str({ default: '', help: 'Free text shown in the API and the dashboard.' }),
  poll_interval: duration({ min: 20, default: 5000, help: 'How often the UPS is read.' }),
  timeout: duration({ min: 50, default: 5000, help: 'Time limit of one read; no answer makes the UPS unknown (an alarm, never a power cut).' }),
  retries: int({ min: 0, max: 10, default: 1, help: 'Extra tries of a failed read before the UPS counts as silent.' }),
} satisfies Template;

/** `[policy]` of a UPS file: what a power cut does (docs/ups.md). */
export const upsPolicyTemplate = {
  servers: list({ default: [], help: 'Servers this UPS feeds; its policy acts on these only. Empty: every server.' }),
  on_battery_delay: duration({ min: 0, default: 30_000, help: 'How long the UPS must be on battery before anything is shed: a shorter flicker does nothing.' }),
  tier_interval: duration({ min: 0, default: 0, help: 'Pause between the end of one shed tier and the start of the next (servers carry shed_priority).' }),
  min_runtime: duration({ min: 0, default: 300_000, help: 'Low battery: the UPS’s runtime estimate below this shuts everything down (0: not used).' }),
  min_charge: int({ min: 0, max: 100, default: 20, help: 'Low battery: battery charge (%) below this shuts everything down (0: not used). The UPS’s own LB flag always counts.' }),
  keep_on: list({ default: [], help: 'Servers kept on through a low battery (a network switch), with what they depend on.' }),
  fsd: bool({ default: false, help: 'After the low-battery shutdown, tell the UPS’s other monitors to shut down now (NUT primary mode only).' }),
  restore: bool({ default: true, help: 'When mains is back: power on exactly the servers that were on before the cut, in dependency order.' }),
  restore_delay: duration({ min: 0, default: 60_000, help: 'How long mains must be back before the restore starts (mains that fails again meanwhile starts no restore).' }),
  restore_min_charge: int({ min: 0, max: 100, default: 30, help: 'Battery charge (%) the restore waits for, so a second cut can still be ridden out (0: do not wait).' }),
} satisfies Template;

export const outletTemplate = {
  device: str({ required: true, help: 'Device id: the base name of a devices/*.ini file.' }),
  outlet: int({ min: 1, required: true, help: 'Outlet number on the device, from 1.' }),
} satisfies Template;

export const controlCommonTemplate = {
  type: str({ required: true, help: 'Controller type, e.g. sim.' }),
  description: str({ default: '', help: 'Free text.' }),
  timeout: duration({ min: 10, default: 30_000, help: 'Time limit for the shutdown request to be accepted.' }),
} satisfies Template;

export const testCommonTemplate = {
  type: str({ required: true, help: 'Tester type, e.g. sim.' }),
  description: str({ default: '', help: 'Free text.' }),
  timeout: duration({ min: 10, default: 5000, help: 'Time limit of one test run; no result in time counts as failed.' }),
} satisfies Template;
