/** The OpenAPI 3.1 description of the HTTP API, served at GET /api/openapi.json. */
import { EVENT_NAMES, EVENTS } from '../plugin-host/contract.js';
import { simulateBody } from './ups-routes.js';
import { schemas } from './schemas.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const errors = {
  '400': json(ref('Error'), 'Bad request: the message names the field'),
  '401': json(ref('Error'), 'No or invalid bearer token'),
  '403': json(ref('Error'), 'The token’s role is too low, or a state change without Content-Type: application/json or X-Ockle-Client (OCKLE_API_CROSS_SITE)'),
  '404': json(ref('Error'), 'No such server, action or route'),
  '421': json(ref('Error'), 'The Host header names a host this gateway does not answer to ([api] names)'),
  '429': json(ref('Error'), 'Too many failed authentications from this address; see Retry-After (a valid token is not throttled)'),
};

export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'ockle', version, description: 'Power-control gateway API. Roles: viewer < operator < admin.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } } } },
        },
        ActionBody: schemas.actionBody,
        MultiActionBody: schemas.multiActionBody,
        OutletActionBody: schemas.outletActionBody,
        MaintenanceBody: schemas.maintenanceBody,
        ConfigFileBody: schemas.configFileBody,
        ConfigCreateBody: schemas.configCreateBody,
        ConfigEditBody: schemas.configEditBody,
        ConfigFile: {
          type: 'object',
          properties: {
            path: { type: 'string', description: 'Relative to the config directory: ockle.ini, devices/NAME.ini or servers/NAME.ini' },
            version: { type: 'string', description: 'sha256 of the file’s bytes (hex), or "absent" when there is no such file; name it in the next change' },
            exists: { type: 'boolean' },
            text: { type: 'string', description: 'The file as it is on disk, every secret value replaced by [secret] ("" when absent)' },
          },
        },
        ConfigDiff: {
          type: 'object',
          description: 'The lines that changed, secrets masked as [secret] (at most 200 lines)',
          properties: {
            added: { type: 'integer' },
            removed: { type: 'integer' },
            lines: {
              type: 'array',
              items: { type: 'object', properties: { op: { type: 'string', enum: ['-', '+'], description: '- removed (line: in the old text), + added (line: in the new text)' }, line: { type: 'integer' }, text: { type: 'string' } } },
            },
          },
        },
        ConfigChange: {
          type: 'object',
          properties: {
            file: { type: 'string' },
            op: { type: 'string', enum: ['replace', 'edit', 'create', 'delete', 'undo'] },
            changed: { type: 'boolean', description: 'False: the result equals the file; nothing was written or recorded' },
            previous: { type: 'string', description: 'The version before the change' },
            version: { type: 'string', description: 'The version now ("absent" after a delete)' },
            diff: ref('ConfigDiff'),
            reloaded: { type: 'boolean', description: 'Whether the reload that followed applied it (false: written, but the daemon runs on the previous configuration; its log says why)' },
            id: { type: ['string', 'null'], description: 'The history entry (GET /api/config/history)' },
            warnings: { type: 'array', description: 'Warnings of the new configuration about this file', items: { type: 'object' } },
          },
        },
        ConfigInvalid: {
          type: 'object',
          description: 'OCKLE_CONFIG_INVALID: the whole configuration would not validate with the change; message lists each error as file:line, problems has them as objects',
          properties: {
            error: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                hint: { type: 'string' },
                problems: {
                  type: 'array',
                  items: { type: 'object', properties: { file: { type: 'string' }, line: { type: 'integer' }, key: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' }, severity: { type: 'string', enum: ['error', 'warning'] } } },
                },
              },
            },
          },
        },
        ConfigConflict: {
          type: 'object',
          description: 'OCKLE_CONFIG_CONFLICT: the file is not at the version the change named; nothing was written',
          properties: {
            error: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                hint: { type: 'string' },
                file: { type: 'string' },
                version: { type: 'string', description: 'The file’s current version' },
                base: { type: 'string', description: 'The version the change named' },
                diff: { oneOf: [ref('ConfigDiff'), { type: 'null' }], description: 'What changed from the named version to the current one, when the daemon still knows the named one (it served or wrote it recently)' },
              },
            },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/health': { get: { summary: 'Liveness and degraded devices (no auth)', security: [], responses: { '200': json({ type: 'object' }) } } },
      '/api/metrics': {
        get: {
          summary: 'The API’s own counters in the Prometheus text format (viewer): failed authentications by reason, those answered 429, addresses throttled now',
          responses: { '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors },
        },
      },
      '/api/servers': { get: { summary: 'Every server with state, reason, outlets, tests (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/servers/{name}': { get: { summary: 'One server (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/servers/{name}/actions': {
        post: {
          summary: 'Switch one server on/off/cycle (operator); force switches its outlets directly',
          requestBody: { content: { 'application/json': { schema: ref('ActionBody') } } },
          responses: { '202': json({ type: 'object' }, 'Accepted; the body holds the action record'), '409': json(ref('Error'), 'Busy, or no sequencer'), ...errors },
        },
      },
      '/api/maintenance': {
        post: {
          summary: 'Pause servers for maintenance, or resume them (operator): a paused server gets no keep-alive restart and no automatic action until resumed; kept across restarts',
          requestBody: { content: { 'application/json': { schema: ref('MaintenanceBody') } } },
          responses: { '200': json({ type: 'object' }, 'The servers whose pause changed, and every paused server'), ...errors },
        },
      },
      '/api/ups': { get: { summary: 'Every UPS: its reading (power, charge, runtime, load, alarms) and where its power-cut policy stands (viewer; docs/ups.md)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/ups/{name}': { get: { summary: 'One UPS: reading, policy stage, open event (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/ups/{name}/plan': {
        get: { summary: 'What each stage of the UPS policy would do now (tiers, low battery, restore), without doing it (viewer)', responses: { '200': json({ type: 'object' }), ...errors } },
      },
      '/api/ups/{name}/simulate': {
        post: {
          summary: 'Drill a simulated UPS (type sim; admin): mains, battery or silent, and/or its charge; its policy then acts on the real servers as in a power cut. A real UPS refuses (400)',
          requestBody: { content: { 'application/json': { schema: simulateBody } } },
          responses: { '200': json({ type: 'object' }, 'The UPS after the drill'), ...errors },
        },
      },
      '/api/servers/{name}/tests': {
        post: { summary: "Run a server's tests now and answer with its status, each test with its result and latency (operator); nothing is switched", responses: { '200': json({ type: 'object' }), ...errors } },
      },
      '/api/devices/{id}/outlets/{outlet}/actions': {
        post: {
          summary: 'Switch one outlet on/off/cycle (operator), whatever it powers: forced, journaled, confirmed by read-back; refused while an action holds the server it powers',
          requestBody: { content: { 'application/json': { schema: ref('OutletActionBody') } } },
          responses: { '202': json({ type: 'object' }, 'Accepted; the body holds the action record'), '409': json(ref('Error'), 'The outlet or the server it powers is held by another action'), ...errors },
        },
      },
      '/api/actions': {
        get: { summary: 'The action journal, newest first (viewer); ?limit, ?server, ?status', responses: { '200': json({ type: 'object' }), ...errors } },
        post: {
          summary: 'Switch several servers, or all (operator); without force the sequencer adds what they need (on) or what needs them (off)',
          requestBody: { content: { 'application/json': { schema: ref('MultiActionBody') } } },
          responses: { '202': json({ type: 'object' }), '409': json(ref('Error')), ...errors },
        },
      },
      '/api/actions/{id}/cancel': {
        post: { summary: 'Cancel a running action: nothing new is scheduled, operations on the wire finish (operator)', responses: { '200': json({ type: 'object' }), ...errors } },
      },
      '/api/actions/{id}': { get: { summary: 'One action; ?wait=SECONDS long-polls until it finishes (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/plan': { get: { summary: 'What a sequenced on/off would do: waves, device order, critical path, servers of other gateways it would wait on (viewer); ?action=on|off&targets=a,b or &all=true', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/tree': { get: { summary: 'Dependency graph: nodes, edges, topological order, and the servers of other gateways it depends on or that depend on it (remote, federation) (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/devices': { get: { summary: 'Devices with reachability and outlet states (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/events': {
        get: {
          summary: 'Server-Sent Events of every state change and action (viewer); ?types=a,b',
          description: `Events (the plugin contract's, src/plugin-host/contract.ts): ${EVENT_NAMES.map((e) => `${e}: ${EVENTS[e]}`).join('; ')}.`,
          parameters: [{ name: 'types', in: 'query', required: false, description: `Comma-separated event names to receive (default: every event but device.metered, which a client names to get): ${EVENT_NAMES.join(', ')}`, schema: { type: 'string', maxLength: 500 } }],
          responses: { '200': { description: 'text/event-stream' }, ...errors },
        },
      },
      '/api/plugins': { get: { summary: 'Every available plugin with where it runs, its state, last error and bug count (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/plugins/{name}': {
        get: {
          summary: 'One plugin: its status, source (bundled|installed), version, package.json of an installed one, and its settings template with the value in effect of each key; a secret reads [secret] (viewer)',
          responses: { '200': json({ type: 'object', properties: { plugin: { type: 'object' } } }), ...errors },
        },
      },
      '/api/plugins/{name}/restart': { post: { summary: 'Restart a worker plugin, also one that failed (admin)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/plugins/{name}/enable': {
        post: {
          summary:
            'Enable a plugin without restarting the daemon (admin): [plugins] enabled in ockle.ini is edited (one line; the whole configuration checked first; written atomically, the previous file kept as ockle.ini.bak), then the configuration is reloaded, which starts only this plugin. Already enabled: 200 with changed false, nothing written',
          responses: {
            '200': json({ type: 'object', properties: { plugin: { type: 'object' }, changed: { type: 'boolean' }, reloaded: { type: 'boolean' }, file: { type: 'string' }, backup: { type: ['string', 'null'] } } }),
            '409': json(ref('Error'), 'OCKLE_PLUGIN_BROKEN: the plugin cannot be loaded (the message says why); OCKLE_CONFIG_CONFLICT: the files changed since the daemon loaded them'),
            '500': json(ref('Error'), 'OCKLE_CONFIG_UNWRITABLE: ockle.ini cannot be written (the system’s reason); nothing changed'),
            ...errors,
            '400': json(ref('Error'), 'OCKLE_CONFIG_INVALID: the configuration would not validate with the change (every problem listed); nothing written'),
            '404': json(ref('Error'), 'No such plugin (the hint lists them)'),
          },
        },
      },
      '/api/plugins/{name}/disable': {
        post: {
          summary: 'Disable a plugin without restarting the daemon (admin): as enable, the other way; only this plugin stops',
          responses: {
            '200': json({ type: 'object', properties: { plugin: { type: 'object' }, changed: { type: 'boolean' }, reloaded: { type: 'boolean' }, file: { type: 'string' }, backup: { type: ['string', 'null'] } } }),
            '409': json(ref('Error'), 'OCKLE_CONFIG_CONFLICT: the files changed since the daemon loaded them'),
            '500': json(ref('Error'), 'OCKLE_CONFIG_UNWRITABLE: ockle.ini cannot be written; nothing changed'),
            ...errors,
          },
        },
      },
      '/api/commands': {
        get: {
          summary: 'Commands registered by running plugins, with the least role each needs and the arguments each declares (params: name → {type: string|number|boolean, help, required}; absent: any JSON object) (viewer)',
          responses: { '200': json({ type: 'object' }), ...errors },
        },
      },
      '/api/commands/{name}': {
        post: {
          summary:
            'Run a plugin command (the role the command declares); body: its JSON params object, checked against the arguments it declares (an unknown, mistyped or missing required one: 400 naming it). 502 OCKLE_COMMAND_FAILED, 504 OCKLE_COMMAND_TIMEOUT, 503 OCKLE_PLUGIN_UNAVAILABLE',
          requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
          responses: { '200': json({ type: 'object', properties: { command: { type: 'string' }, result: {} } }), ...errors },
        },
      },
      '/api/whoami': { get: { summary: 'The token’s name and role (viewer): what the dashboard may show', responses: { '200': json({ type: 'object', properties: { name: { type: 'string' }, role: { type: 'string' } } }), ...errors } } },
      '/api/config': { get: { summary: 'The loaded configuration: every file, section and key with kind, default, help and the line that sets it; secrets masked (admin)', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/config/schema': {
        get: {
          summary:
            'The templates the dashboard’s forms are built from (admin): main (each ockle.ini section: daemon, api, servers, plugins, plugins.NAME), server ({server, outlet} keys), devices, controls, tests ({common, types: [{type, description, keys}]}); each key {key, kind, describe, help, default, required, choices?, min?, max?, secret}',
          responses: { '200': json({ type: 'object', properties: { main: { type: 'object' }, server: { type: 'object' }, devices: { type: 'object' }, controls: { type: 'object' }, tests: { type: 'object' } } }), ...errors },
        },
      },
      '/api/config/check': {
        post: {
          summary: 'Check the loaded configuration with one file replaced (body: {file, text}); changes nothing (admin)',
          requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['file', 'text'], properties: { file: { type: 'string' }, text: { type: 'string' } } } } } },
          responses: { '200': json({ type: 'object', properties: { ok: { type: 'boolean' }, problems: { type: 'array' } } }), ...errors },
        },
      },
      '/api/config/files/{path}': {
        parameters: [
          {
            name: 'path',
            in: 'path',
            required: true,
            description: 'ockle.ini, devices/NAME.ini or servers/NAME.ini, slashes as they are (e.g. /api/config/files/servers/web-1.ini). Refused with 400 OCKLE_CONFIG_PATH: .. or . segments, an absolute path, a symbolic link leading out of the config directory, a file that is not .ini, any other file',
            schema: { type: 'string' },
          },
        ],
        get: {
          summary: 'One configuration file as text with its version; secret values read [secret] (admin). An absent file: version "absent", exists false',
          responses: { '200': json(ref('ConfigFile')), ...errors, '400': json(ref('Error'), 'OCKLE_CONFIG_PATH') },
        },
        put: {
          summary:
            'Replace the whole file (admin): the dashboard’s editor. Body {version, text}: version is the one the text was based on ("absent" creates the file). A line whose secret value is [secret] keeps the stored value, so a file read masked and sent back loses no secret. The whole configuration is checked with the new text, the file written atomically (temporary file, fsync, rename; previous file kept as FILE.bak and in the history), the change recorded (GET /api/config/history), then the daemon reloads (only what changed restarts; nothing is switched)',
          requestBody: { content: { 'application/json': { schema: ref('ConfigFileBody') } } },
          responses: {
            '200': json(ref('ConfigChange')),
            ...errors,
            '400': json(ref('ConfigInvalid'), 'OCKLE_CONFIG_INVALID (every problem at file:line), OCKLE_CONFIG_PATH, or OCKLE_REQUEST_INVALID (e.g. [secret] for a key with no stored value); nothing written'),
            '409': json(ref('ConfigConflict'), 'OCKLE_CONFIG_CONFLICT: the file changed since that version (or exists, for "absent"); nothing written'),
            '500': json(ref('Error'), 'OCKLE_CONFIG_UNWRITABLE: the directory is read-only or the write failed; nothing changed'),
          },
        },
        post: {
          summary: 'Create a file that does not exist yet, e.g. servers/NAME.ini for a new server or devices/NAME.ini for a new device (admin); body {text}. Checked, written, recorded and reloaded as PUT',
          requestBody: { content: { 'application/json': { schema: ref('ConfigCreateBody') } } },
          responses: {
            '201': json(ref('ConfigChange')),
            ...errors,
            '400': json(ref('ConfigInvalid'), 'OCKLE_CONFIG_INVALID, OCKLE_CONFIG_PATH; nothing written'),
            '409': json(ref('ConfigConflict'), 'The file exists already'),
            '500': json(ref('Error'), 'OCKLE_CONFIG_UNWRITABLE; nothing changed'),
          },
        },
        delete: {
          summary:
            'Delete a file (admin); ?version= the version it was read at. The configuration is checked without the file (a server others depend on, a device a server uses: 400 naming them); the file is renamed to FILE.bak and kept in the history; ockle.ini cannot be deleted',
          parameters: [{ name: 'version', in: 'query', required: true, schema: { type: 'string' } }],
          responses: {
            '200': json(ref('ConfigChange')),
            ...errors,
            '400': json(ref('ConfigInvalid'), 'OCKLE_CONFIG_INVALID, OCKLE_CONFIG_PATH; nothing changed'),
            '409': json(ref('ConfigConflict'), 'The file changed since that version'),
            '500': json(ref('Error'), 'OCKLE_CONFIG_UNWRITABLE; nothing changed'),
          },
        },
      },
      '/api/config/edit': {
        post: {
          summary:
            'Structured edits of one file (admin), applied in order, each touching only its lines (comments, order, blank lines and line ends kept): set {section, key, value} rewrites the key’s line in place, or adds it after the section’s last key, or appends the section; unset {section, key} removes its line; add-section {section} appends an empty one; remove-section {section} removes its header through its last key. A value INI would misread (; # quotes, spaces at an end) is written in double quotes; a line break is refused. Checked, written, recorded and reloaded as PUT',
          requestBody: { content: { 'application/json': { schema: ref('ConfigEditBody') } } },
          responses: {
            '200': json(ref('ConfigChange')),
            ...errors,
            '400': json(ref('ConfigInvalid'), 'OCKLE_CONFIG_INVALID (e.g. a value out of range, an unknown key, a dependency on a missing server, a cycle: each at file:line), OCKLE_CONFIG_PATH, OCKLE_REQUEST_INVALID; nothing written'),
            '404': json(ref('Error'), 'The file does not exist (create it first)'),
            '409': json(ref('ConfigConflict'), 'The file changed since that version'),
            '500': json(ref('Error'), 'OCKLE_CONFIG_UNWRITABLE; nothing changed'),
          },
        },
      },
      '/api/config/undo': {
        post: {
          summary:
            'Undo the latest change made through ockle that is not undone yet (admin): the file goes back to its bytes before that change (or is deleted again, or recreated). Itself a change: refused with 409 if the file changed since, 400 if the configuration would not validate; recorded; repeated, it walks further back',
          responses: { '200': json(ref('ConfigChange')), ...errors, '404': json(ref('Error'), 'Nothing to undo'), '409': json(ref('ConfigConflict')) },
        },
      },
      '/api/config/history': {
        get: {
          summary: 'Changes made through ockle, newest first (admin); ?limit (default 50): id, at, who (client:token), file, op, before and after versions, diff (secrets masked), undoes',
          responses: { '200': json({ type: 'object', properties: { changes: { type: 'array', items: { type: 'object' } } } }), ...errors },
        },
      },
      '/api/config/problems': { get: { summary: 'Warnings of the loaded configuration (admin)', responses: { '200': json({ type: 'object' }), ...errors } } },
    },
  };
}
