/**
 * Home Assistant's MQTT discovery schema, as far as the mqtt plugin's entities use it, written
 * down from HA core (home-assistant/core, dev branch):
 * - components/mqtt/switch.py, binary_sensor.py, sensor.py: the required topic of each platform
 *   (switch: command_topic; binary_sensor and sensor: state_topic), payloads and templates;
 * - components/mqtt/schemas.py / abbreviations.py: availability entries need `topic`,
 *   availability_mode is all|any|latest, a device needs identifiers or connections;
 * - components/sensor/const.py: DEVICE_CLASS_UNITS (the units a device class accepts) and
 *   DEVICE_CLASS_STATE_CLASSES (power, current, voltage: measurement; energy: total or
 *   total_increasing), for the classes ockle uses;
 * - components/binary_sensor/__init__.py: BinarySensorDeviceClass;
 * - helpers/entity.py: entity_category is config|diagnostic.
 * Keys outside these lists are reported, so a misspelt key does not pass silently.
 */

const COMMON = new Set(['name', 'unique_id', 'availability', 'availability_mode', 'device', 'icon', 'entity_category', 'qos', 'json_attributes_topic', 'json_attributes_template', 'value_template', 'state_topic', 'enabled_by_default']);
const PLATFORM: Record<string, { required: readonly string[]; keys: readonly string[] }> = {
  switch: { required: ['command_topic'], keys: ['command_topic', 'payload_on', 'payload_off', 'state_on', 'state_off', 'optimistic', 'retain', 'device_class'] },
  binary_sensor: { required: ['state_topic'], keys: ['payload_on', 'payload_off', 'device_class', 'off_delay', 'expire_after', 'force_update'] },
  sensor: { required: ['state_topic'], keys: ['device_class', 'unit_of_measurement', 'state_class', 'expire_after', 'force_update', 'suggested_display_precision'] },
};

const SENSOR_UNITS: Record<string, readonly string[]> = {
  power: ['W', 'kW', 'MW', 'GW', 'TW', 'mW', 'BTU/h'],
  current: ['A', 'mA'],
  voltage: ['V', 'mV', 'µV', 'kV', 'MV'],
  energy: ['Wh', 'kWh', 'MWh', 'GWh', 'TWh', 'mWh', 'J', 'kJ', 'MJ', 'GJ', 'cal', 'kcal', 'Mcal', 'Gcal'],
  battery: ['%'],
  duration: ['d', 'h', 'min', 's', 'ms'],
};
const SENSOR_STATE_CLASSES: Record<string, readonly string[]> = {
  power: ['measurement'],
  current: ['measurement'],
  voltage: ['measurement'],
  energy: ['total', 'total_increasing'],
  battery: ['measurement'],
  duration: ['measurement', 'total', 'total_increasing'],
};
const BINARY_SENSOR_CLASSES = new Set(['battery', 'battery_charging', 'carbon_monoxide', 'cold', 'connectivity', 'door', 'garage_door', 'gas', 'heat', 'light', 'lock', 'moisture', 'motion', 'moving', 'occupancy', 'opening', 'plug', 'power', 'presence', 'problem', 'running', 'safety', 'smoke', 'sound', 'tamper', 'update', 'vibration', 'window']);
const SWITCH_CLASSES = new Set(['outlet', 'switch']);

/** A topic one may publish to / subscribe to (valid_publish_topic, valid_subscribe_topic). */
const publishable = (t: unknown): boolean => typeof t === 'string' && t.length > 0 && !/[+#]/.test(t);

/** Every way `payload`, published on discovery topic `topic`, breaks HA's schema; [] when it is valid. */
export function checkDiscovery(topic: string, payload: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const parts = topic.split('/');
  if (parts.length < 4 || parts.length > 5 || parts.at(-1) !== 'config') problems.push(`topic ${topic} is not <prefix>/<component>/[<node_id>/]<object_id>/config`);
  if (parts.slice(1, -1).some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) problems.push(`topic ${topic}: node and object ids are letters, digits, _ and -`);
  const component = parts[1]!;
  const platform = PLATFORM[component];
  if (!platform) return [...problems, `component ${component} is not one ockle uses`];
  for (const k of platform.required) if (!publishable(payload[k])) problems.push(`${component}: ${k} is required (a topic without wildcards)`);
  for (const k of Object.keys(payload)) if (!COMMON.has(k) && !platform.keys.includes(k)) problems.push(`${component}: unknown key ${k}`);
  if (typeof payload.unique_id !== 'string' || payload.unique_id === '') problems.push('unique_id is needed for a device to be attached');
  const dev = payload.device as Record<string, unknown> | undefined;
  if (!dev || !((Array.isArray(dev.identifiers) && dev.identifiers.length > 0) || Array.isArray(dev.connections))) problems.push('device needs identifiers or connections');
  const av = payload.availability;
  if (av !== undefined && !(Array.isArray(av) && av.every((a) => typeof a === 'object' && a !== null && publishable((a as { topic?: unknown }).topic)))) problems.push('availability: a list of {topic, payload_available?, payload_not_available?}');
  if (payload.availability_mode !== undefined && !['all', 'any', 'latest'].includes(payload.availability_mode as string)) problems.push('availability_mode: all, any or latest');
  if (payload.entity_category !== undefined && !['config', 'diagnostic'].includes(payload.entity_category as string)) problems.push('entity_category: config or diagnostic');
  if (payload.qos !== undefined && ![0, 1, 2].includes(payload.qos as number)) problems.push('qos: 0, 1 or 2');
  const dc = payload.device_class as string | undefined;
  if (component === 'sensor' && dc !== undefined) {
    const units = SENSOR_UNITS[dc];
    if (!units) problems.push(`sensor: device_class ${dc} is not one ockle uses`);
    else {
      if (!units.includes(payload.unit_of_measurement as string)) problems.push(`sensor: ${dc} needs a unit of ${units.join(', ')}, not ${String(payload.unit_of_measurement)}`);
      if (payload.state_class !== undefined && !SENSOR_STATE_CLASSES[dc]!.includes(payload.state_class as string)) problems.push(`sensor: ${dc} takes state_class ${SENSOR_STATE_CLASSES[dc]!.join(' or ')}, not ${String(payload.state_class)}`);
    }
  }
  if (component === 'sensor' && payload.state_class !== undefined && !['measurement', 'total', 'total_increasing'].includes(payload.state_class as string)) problems.push('sensor: state_class is measurement, total or total_increasing');
  if (component === 'binary_sensor' && dc !== undefined && !BINARY_SENSOR_CLASSES.has(dc)) problems.push(`binary_sensor: device_class ${dc} is not one of HA's`);
  if (component === 'switch' && dc !== undefined && !SWITCH_CLASSES.has(dc)) problems.push('switch: device_class is outlet or switch');
  return problems;
}
