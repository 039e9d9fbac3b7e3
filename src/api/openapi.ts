/** The OpenAPI 3.1 description of the HTTP API, served at GET /api/openapi.json. */
import { EVENT_NAMES, EVENTS } from '../plugin-host/contract.js';
import { schemas } from './schemas.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const errors = {
  '400': json(ref('Error'), 'Bad request: the message names the field'),
  '401': json(ref('Error'), 'No or invalid bearer token'),
  '403': json(ref('Error'), 'The token’s role is too low'),
  '404': json(ref('Error'), 'No such server, action or route'),
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
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/health': { get: { summary: 'Liveness and degraded devices (no auth)', security: [], responses: { '200': json({ type: 'object' }) } } },
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
      '/api/plan': { get: { summary: 'What a sequenced on/off would do: waves, device order, critical path (viewer); ?action=on|off&targets=a,b or &all=true', responses: { '200': json({ type: 'object' }), ...errors } } },
      '/api/tree': { get: { summary: 'Dependency graph: nodes, edges, topological order (viewer)', responses: { '200': json({ type: 'object' }), ...errors } } },
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
      '/api/config/check': {
        post: {
          summary: 'Check the loaded configuration with one file replaced (body: {file, text}); changes nothing (admin)',
          requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['file', 'text'], properties: { file: { type: 'string' }, text: { type: 'string' } } } } } },
          responses: { '200': json({ type: 'object', properties: { ok: { type: 'boolean' }, problems: { type: 'array' } } }), ...errors },
        },
      },
      '/api/config/problems': { get: { summary: 'Warnings of the loaded configuration (admin)', responses: { '200': json({ type: 'object' }), ...errors } } },
    },
  };
}
