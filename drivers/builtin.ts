/** Every driver shipped with ockle. Add new drivers here. */
import { simControllerDriver, simOutletDriver, simTesterDriver } from './sim/index.js';
import { gpioRelayDriver } from './gpio-relay/index.js';
import { commandControllerDriver } from './host/controllers.js';
import { ipmiDriver, ipmiSoftDriver } from './ipmi/index.js';
import { commandTesterDriver, httpTesterDriver, pingTesterDriver, tcpTesterDriver } from './host/testers.js';
import { modbusRelayDriver } from './modbus-relay/index.js';
import { redfishDriver, redfishGracefulDriver } from './redfish/index.js';
import { serialRelayDriver } from './serial-relay/index.js';
import { snmpPduDriver } from './snmp-pdu/index.js';
import { sshControllerDriver } from './ssh/index.js';
import type { DriverDefinition } from './types.js';

export const builtinDrivers: readonly DriverDefinition[] = [
  simOutletDriver as unknown as DriverDefinition,
  simControllerDriver as unknown as DriverDefinition,
  simTesterDriver as unknown as DriverDefinition,
  snmpPduDriver as unknown as DriverDefinition,
  modbusRelayDriver as unknown as DriverDefinition,
  serialRelayDriver as unknown as DriverDefinition,
  gpioRelayDriver as unknown as DriverDefinition,
  ipmiDriver as unknown as DriverDefinition,
  ipmiSoftDriver as unknown as DriverDefinition,
  redfishDriver as unknown as DriverDefinition,
  redfishGracefulDriver as unknown as DriverDefinition,
  sshControllerDriver as unknown as DriverDefinition,
  commandControllerDriver as unknown as DriverDefinition,
  tcpTesterDriver as unknown as DriverDefinition,
  httpTesterDriver as unknown as DriverDefinition,
  pingTesterDriver as unknown as DriverDefinition,
  commandTesterDriver as unknown as DriverDefinition,
];
