/** Every driver shipped with ockle. Add new drivers here. */
import { simControllerDriver, simOutletDriver, simTesterDriver } from './sim/index.js';
import { gpioRelayDriver } from './gpio-relay/index.js';
import { commandControllerDriver } from './host/controllers.js';
import { ipmiDriver, ipmiSoftDriver } from './ipmi/index.js';
import { commandTesterDriver, httpTesterDriver, pingTesterDriver, tcpTesterDriver } from './host/testers.js';
import { modbusRelayDriver } from './modbus-relay/index.js';
import { nutDriver } from './nut/index.js';
import { powermanDriver } from './powerman/index.js';
import { shellyDriver } from './shelly/index.js';
import { tasmotaDriver } from './tasmota/index.js';
import { wolDriver } from './wol/index.js';
import { redfishDriver, redfishGracefulDriver } from './redfish/index.js';
import { serialRelayDriver } from './serial-relay/index.js';
import { snmpPduDriver } from './snmp-pdu/index.js';
import { sshControllerDriver } from './ssh/index.js';
import { simUpsDriver } from './sim/ups.js';
import { upsMibDriver } from './ups-mib/index.js';
import type { DriverDefinition } from './types.js';

export const builtinDrivers: readonly DriverDefinition[] = [
  simOutletDriver,
  simControllerDriver,
  simTesterDriver,
  snmpPduDriver,
  modbusRelayDriver,
  serialRelayDriver,
  gpioRelayDriver,
  ipmiDriver,
  ipmiSoftDriver,
  redfishDriver,
  redfishGracefulDriver,
  powermanDriver,
  tasmotaDriver,
  shellyDriver,
  wolDriver,
  sshControllerDriver,
  commandControllerDriver,
  tcpTesterDriver,
  httpTesterDriver,
  pingTesterDriver,
  commandTesterDriver,
  simUpsDriver,
  upsMibDriver,
  nutDriver,
];
