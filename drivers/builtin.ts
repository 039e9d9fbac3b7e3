/**
 * Every driver shipped with ockle. Add new drivers here.
 *
 * The simulated drivers (the demo's) are loaded with this module. Every other driver is known by
 * its light definition (type, config keys, checks: what config loading, `config check` and the
 * docs need) and its implementation is imported only when a configuration names its type (daemon
 * start, reload, `devices probe`; src/world.ts `loadDrivers`): a gateway of SNMP PDUs never
 * loads the serial, Modbus or SSH stacks, and a simulated lab loads none of them.
 */
import { simControllerDriver, simOutletDriver, simTesterDriver } from './sim/index.js';
import { simUpsDriver } from './sim/ups.js';
import { gpioRelaySketch } from './gpio-relay/definition.js';
import { commandControllerSketch, commandTesterSketch, httpTesterSketch, pingTesterSketch, tcpTesterSketch } from './host/definition.js';
import { ipmiSketch, ipmiSoftSketch } from './ipmi/definition.js';
import { modbusRelaySketch } from './modbus-relay/definition.js';
import { nutSketch } from './nut/definition.js';
import { powermanSketch } from './powerman/definition.js';
import { redfishGracefulSketch, redfishSketch } from './redfish/definition.js';
import { serialRelaySketch } from './serial-relay/definition.js';
import { shellySketch } from './shelly/definition.js';
import { snmpPduSketch } from './snmp-pdu/definition.js';
import { sshSketch } from './ssh/definition.js';
import { tasmotaSketch } from './tasmota/definition.js';
import { upsMibSketch } from './ups-mib/definition.js';
import { wolSketch } from './wol/definition.js';
import { lazyDriver, type DriverDefinition } from './types.js';

export const builtinDrivers: readonly DriverDefinition[] = [
  simOutletDriver,
  simControllerDriver,
  simTesterDriver,
  lazyDriver(snmpPduSketch, async () => (await import('./snmp-pdu/index.js')).snmpPduDriver),
  lazyDriver(modbusRelaySketch, async () => (await import('./modbus-relay/index.js')).modbusRelayDriver),
  lazyDriver(serialRelaySketch, async () => (await import('./serial-relay/index.js')).serialRelayDriver),
  lazyDriver(gpioRelaySketch, async () => (await import('./gpio-relay/index.js')).gpioRelayDriver),
  lazyDriver(ipmiSketch, async () => (await import('./ipmi/index.js')).ipmiDriver),
  lazyDriver(ipmiSoftSketch, async () => (await import('./ipmi/index.js')).ipmiSoftDriver),
  lazyDriver(redfishSketch, async () => (await import('./redfish/index.js')).redfishDriver),
  lazyDriver(redfishGracefulSketch, async () => (await import('./redfish/index.js')).redfishGracefulDriver),
  lazyDriver(powermanSketch, async () => (await import('./powerman/index.js')).powermanDriver),
  lazyDriver(tasmotaSketch, async () => (await import('./tasmota/index.js')).tasmotaDriver),
  lazyDriver(shellySketch, async () => (await import('./shelly/index.js')).shellyDriver),
  lazyDriver(wolSketch, async () => (await import('./wol/index.js')).wolDriver),
  lazyDriver(sshSketch, async () => (await import('./ssh/index.js')).sshControllerDriver),
  lazyDriver(commandControllerSketch, async () => (await import('./host/controllers.js')).commandControllerDriver),
  lazyDriver(tcpTesterSketch, async () => (await import('./host/testers.js')).tcpTesterDriver),
  lazyDriver(httpTesterSketch, async () => (await import('./host/testers.js')).httpTesterDriver),
  lazyDriver(pingTesterSketch, async () => (await import('./host/testers.js')).pingTesterDriver),
  lazyDriver(commandTesterSketch, async () => (await import('./host/testers.js')).commandTesterDriver),
  simUpsDriver,
  lazyDriver(upsMibSketch, async () => (await import('./ups-mib/index.js')).upsMibDriver),
  lazyDriver(nutSketch, async () => (await import('./nut/index.js')).nutDriver),
];
