/**
 * Home Assistant MQTT discovery, pure: the retained config messages that make every server,
 * outlet and meter of the lab an entity (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
 * Topic: HA_PREFIX/COMPONENT/NODE/OBJECT/config, NODE = ockle_GATEWAY. A config removed from
 * the lab is removed in HA by an empty retained message on its topic (the plugin diffs).
 *
 * Entities: per server a switch (a sequenced on/off through ockle, not a forced one) and a
 * binary_sensor "serving" (device_class running); per outlet a switch (forced: exactly that
 * outlet) unless outlet_switches is off; per metered outlet sensors for what it measures
 * (power W, current A, voltage V: state_class measurement; energy Wh: total_increasing, as HA's
 * sensor/const.py DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES require); per device a
 * binary_sensor "reachable" (connectivity) and its total power when metered. Servers belong to
 * the gateway's device, outlets and meters to their PDU's device (via the gateway). Every
 * entity is available only while the gateway's availability topic says online.
 */
import type { DeviceStatus, ServerStatus, UpsStatus } from '../../src/core/model.js';
import { availabilityTopic, deviceTopic, outletSetTopic, outletTopic, serverSetTopic, serverTopic, upsTopic, type Names } from './topics.js';

export interface DiscoveryOptions {
  readonly haPrefix: string;
  readonly outletSwitches: boolean;
  /** ockle's version, shown as the gateway device's software. */
  readonly version: string;
}

/** An id HA accepts in a topic level and as unique_id: letters, digits, _ and -. */
const id = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

const METERS = [
  { key: 'watts', object: 'power', device_class: 'power', unit: 'W', state_class: 'measurement', label: 'power' },
  { key: 'amps', object: 'current', device_class: 'current', unit: 'A', state_class: 'measurement', label: 'current' },
  { key: 'volts', object: 'voltage', device_class: 'voltage', unit: 'V', state_class: 'measurement', label: 'voltage' },
  { key: 'energyWh', object: 'energy', device_class: 'energy', unit: 'Wh', state_class: 'total_increasing', label: 'energy' },
] as const;
const JSON_KEY: Record<(typeof METERS)[number]['key'], string> = { watts: 'watts', amps: 'amps', volts: 'volts', energyWh: 'energy_wh' };

/**
 * What the configs are made of, and nothing else: names, descriptions, models, which outlets
 * exist and what each measures. The plugin keeps the configs while this stays the same, so the
 * full re-read after a burst of events (every 250 ms while a lab switches) does not make a
 * config per entity again: on a lab of four 25-outlet metered PDUs (708 configs) that was
 * 3.5 ms of the worker's time per re-read, the shape 0.08 ms.
 */
export interface DiscoveryShape {
  readonly servers: readonly string[];
  readonly devices: readonly {
    readonly id: string;
    readonly description: string;
    readonly model: string;
    readonly metered: boolean;
    readonly outlets: readonly { readonly outlet: number; readonly label: string; readonly meters: readonly (typeof METERS)[number]['key'][] }[];
  }[];
  readonly ups: readonly { readonly name: string; readonly type: string; readonly charge: boolean; readonly runtime: boolean; readonly load: boolean; readonly inputVolts: boolean }[];
}

export function discoveryShape(servers: readonly ServerStatus[], devices: readonly DeviceStatus[], ups: readonly UpsStatus[] = []): DiscoveryShape {
  return {
    servers: servers.map((s) => s.name),
    devices: devices.map((d) => ({
      id: d.id,
      description: d.description,
      model: d.model ?? d.type,
      metered: d.outlets.some((x) => typeof x.reading?.watts === 'number'),
      outlets: d.outlets.map((x) => ({
        outlet: x.outlet,
        label: x.boundTo ? `outlet ${x.outlet} (${x.boundTo.split('/')[0]})` : x.name ? `outlet ${x.outlet} (${x.name})` : `outlet ${x.outlet}`,
        meters: METERS.filter((m) => typeof x.reading?.[m.key] === 'number').map((m) => m.key),
      })),
    })),
    ups: ups.map((u) => ({ name: u.name, type: u.type, charge: u.chargePct !== null, runtime: u.runtimeS !== null, load: u.loadPct !== null, inputVolts: u.inputVolts !== null })),
  };
}

/** Every discovery config of the lab: topic → JSON payload. */
export function discoveryMessages(n: Names, o: DiscoveryOptions, servers: readonly ServerStatus[], devices: readonly DeviceStatus[], ups: readonly UpsStatus[] = []): Map<string, string> {
  return discoveryFromShape(n, o, discoveryShape(servers, devices, ups));
}

/** The configs of a lab of this shape. */
export function discoveryFromShape(n: Names, o: DiscoveryOptions, shape: DiscoveryShape): Map<string, string> {
  const out = new Map<string, string>();
  const node = `ockle_${id(n.gateway)}`;
  const availability = [{ topic: availabilityTopic(n), payload_available: 'online', payload_not_available: 'offline' }];
  const gatewayDevice = { identifiers: [node], name: `ockle ${n.gateway}`, manufacturer: 'ockle', model: 'power-control gateway', sw_version: o.version };
  const pduDevice = (d: DiscoveryShape['devices'][number]) => ({
    identifiers: [`${node}_${id(d.id)}`],
    name: d.description ? `${d.id} (${d.description})` : d.id,
    manufacturer: 'ockle',
    model: d.model,
    via_device: node,
  });
  const put = (component: string, object: string, config: Record<string, unknown>): void =>
    void out.set(`${o.haPrefix}/${component}/${node}/${object}/config`, JSON.stringify({ ...config, unique_id: `${node}_${object}`, availability, availability_mode: 'all' }));

  for (const name of shape.servers) {
    const s = { name };
    const sid = `server_${id(s.name)}`;
    put('switch', sid, {
      name: s.name,
      command_topic: serverSetTopic(n, s.name),
      state_topic: serverTopic(n, s.name),
      value_template: '{{ value_json.power }}',
      payload_on: 'ON',
      payload_off: 'OFF',
      state_on: 'on',
      state_off: 'off',
      qos: 1,
      icon: 'mdi:server',
      device: gatewayDevice,
    });
    put('binary_sensor', `${sid}_serving`, {
      name: `${s.name} serving`,
      state_topic: serverTopic(n, s.name),
      value_template: "{{ 'ON' if value_json.serving else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
      device_class: 'running',
      json_attributes_topic: serverTopic(n, s.name),
      json_attributes_template: '{{ {"state": value_json.state, "reason": value_json.reason} | tojson }}',
      device: gatewayDevice,
    });
  }
  for (const d of shape.devices) {
    const did = `device_${id(d.id)}`;
    const device = pduDevice(d);
    put('binary_sensor', `${did}_reachable`, {
      name: 'reachable',
      state_topic: deviceTopic(n, d.id),
      value_template: "{{ 'ON' if value_json.reachable else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
      device_class: 'connectivity',
      entity_category: 'diagnostic',
      device,
    });
    if (d.metered)
      put('sensor', `${did}_power`, { name: 'power', state_topic: deviceTopic(n, d.id), value_template: '{{ value_json.watts }}', device_class: 'power', unit_of_measurement: 'W', state_class: 'measurement', device });
    for (const x of d.outlets) {
      const oid = `${did}_outlet_${x.outlet}`;
      const label = x.label;
      if (o.outletSwitches)
        put('switch', oid, {
          name: label,
          command_topic: outletSetTopic(n, d.id, x.outlet),
          state_topic: outletTopic(n, d.id, x.outlet),
          value_template: '{{ value_json.power }}',
          payload_on: 'ON',
          payload_off: 'OFF',
          state_on: 'on',
          state_off: 'off',
          qos: 1,
          icon: 'mdi:power-socket-eu',
          device,
        });
      for (const m of METERS)
        if (x.meters.includes(m.key))
          put('sensor', `${oid}_${m.object}`, {
            name: `${label} ${m.label}`,
            state_topic: outletTopic(n, d.id, x.outlet),
            value_template: `{{ value_json.${JSON_KEY[m.key]} }}`,
            device_class: m.device_class,
            unit_of_measurement: m.unit,
            state_class: m.state_class,
            device,
          });
    }
  }
  // Per UPS a device of its own: sensors for what it reports, and binary sensors "on battery"
  // and "low battery" (device_class battery: on means low).
  for (const u of shape.ups) {
    const uid = `ups_${id(u.name)}`;
    const device = { identifiers: [`${node}_${uid}`], name: `UPS ${u.name}`, manufacturer: 'ockle', model: u.type, via_device: node };
    const topic = upsTopic(n, u.name);
    put('binary_sensor', `${uid}_on_battery`, { name: 'on battery', state_topic: topic, value_template: "{{ 'ON' if value_json.on_battery else 'OFF' }}", payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:battery-alert', device });
    put('binary_sensor', `${uid}_low_battery`, { name: 'low battery', state_topic: topic, value_template: "{{ 'ON' if value_json.low_battery else 'OFF' }}", payload_on: 'ON', payload_off: 'OFF', device_class: 'battery', device });
    if (u.charge) put('sensor', `${uid}_charge`, { name: 'charge', state_topic: topic, value_template: '{{ value_json.charge_pct }}', device_class: 'battery', unit_of_measurement: '%', state_class: 'measurement', device });
    if (u.runtime) put('sensor', `${uid}_runtime`, { name: 'runtime', state_topic: topic, value_template: '{{ value_json.runtime_s }}', device_class: 'duration', unit_of_measurement: 's', state_class: 'measurement', device });
    if (u.load) put('sensor', `${uid}_load`, { name: 'load', state_topic: topic, value_template: '{{ value_json.load_pct }}', unit_of_measurement: '%', state_class: 'measurement', icon: 'mdi:gauge', device });
    if (u.inputVolts) put('sensor', `${uid}_input_voltage`, { name: 'input voltage', state_topic: topic, value_template: '{{ value_json.input_volts }}', device_class: 'voltage', unit_of_measurement: 'V', state_class: 'measurement', device });
  }
  return out;
}

/** Whether `topic` is a discovery config of this gateway (for removing stale ones found retained). */
export function isDiscoveryTopic(n: Names, haPrefix: string, topic: string): boolean {
  const parts = topic.split('/');
  return parts.length === 5 && parts[0] === haPrefix && parts[2] === `ockle_${id(n.gateway)}` && parts[4] === 'config';
}
