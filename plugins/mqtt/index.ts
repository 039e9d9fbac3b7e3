/**
 * mqtt: the manifest (runs in a worker thread; the code is in plugin.ts, the topics and payloads
 * in topics.ts, Home Assistant discovery in discovery.ts). docs/mqtt.md has the setup.
 */
import { bool, duration, int, list, secret, select, str } from '../../src/config/types.js';
import { builtModule } from '../../src/plugin-host/paths.js';

export const name = 'mqtt';
export const apiVersion = 1;
/** It switches power for the MQTT users its `roles` name operator (journaled as `mqtt:USER`). */
export const role = 'operator';
export const description = 'Publishes server, outlet and device states to an MQTT broker (retained, on change), accepts on/off/cycle commands from authorised MQTT users, and announces everything to Home Assistant.';

/** A topic level of ours: no MQTT wildcard, no separator, nothing a shell or a template would trip on. */
const LEVEL = /^[A-Za-z0-9_-]{1,64}$/;

export const config = {
  broker: str({
    default: 'mqtt://127.0.0.1:1883',
    pattern: /^(mqtts?|wss?):\/\/[^\s/@]+(:\d+)?\/?$/,
    patternHelp: 'a broker URL without credentials, mqtt://HOST:PORT or mqtts://HOST:PORT',
    help: 'The broker. mqtts:// for TLS (then ca_file, and cert_file/key_file for a client certificate). Credentials go in username and password, never in the URL.',
  }),
  gateway: str({ pattern: LEVEL, patternHelp: 'a topic level: 1 to 64 letters, digits, _ and -', default: 'ockle', help: 'This gateway’s name in every topic (PREFIX/GATEWAY/…) and in Home Assistant. Unique per broker: two gateways with one name overwrite each other’s states.' }),
  prefix: str({ pattern: LEVEL, patternHelp: 'a topic level: 1 to 64 letters, digits, _ and -', default: 'ockle', help: 'First level of every topic.' }),
  username: str({ default: '', help: 'MQTT user name of the gateway (empty: anonymous).' }),
  password: secret({ help: 'MQTT password of the gateway. Never logged, never shown.' }),
  client_id: str({ default: '', help: 'MQTT client id (empty: ockle-GATEWAY). The session is persistent (clean session off), so it must be this gateway’s alone.' }),
  protocol: select({ choices: ['5', '3.1.1'] as const, default: '5', help: 'MQTT protocol version. With 5, a command’s reply goes to its response topic with its correlation data; with 3.1.1 (and a 5 client that gives none) to the command topic with /set replaced by /reply.' }),
  keepalive: duration({ min: 5000, max: 3_600_000, default: 30_000, help: 'MQTT keepalive: the broker publishes this gateway’s will (availability offline) after 1.5 times this without a packet.' }),
  reconnect_min: duration({ min: 100, max: 600_000, default: 1000, help: 'First wait before reconnecting to a broker that went away; doubled after each failure up to reconnect_max.' }),
  reconnect_max: duration({ min: 1000, max: 3_600_000, default: 60_000, help: 'Longest wait between reconnection attempts.' }),
  ca_file: str({ default: '', help: 'PEM file of the CA that signed the broker’s certificate (mqtts://); empty: the system’s CAs.' }),
  cert_file: str({ default: '', help: 'PEM client certificate, for brokers that authenticate clients by certificate (with key_file).' }),
  key_file: str({ default: '', help: 'PEM private key of cert_file. Keep it mode 0600, readable by the ockle user only.' }),
  roles: list({
    default: [],
    help: 'Who may command: USER=operator (or admin) entries, e.g. `alice=operator, homeassistant=operator`. A command from a user not listed, or listed as viewer, is refused with a reply. The user is the one in the topic (PREFIX/GATEWAY/user/USER/…/set), which the broker’s ACL must tie to the logged-in user (Mosquitto: pattern write ockle/+/user/%u/#); see docs/mqtt.md.',
  }),
  shared_topic_user: str({
    default: '',
    help: 'Commands on the plain topics (PREFIX/GATEWAY/server/NAME/set, …/outlet/DEVICE/N/set, which Home Assistant uses) act as this user, who must be in roles; empty: those topics are refused. Let only that user write them in the broker’s ACL.',
  }),
  max_payload: int({ min: 64, max: 65_536, default: 4096, help: 'Largest command payload in bytes; a larger one is refused with a reply, unread.' }),
  follow: list({
    default: [],
    help: 'Other gateways on this broker whose server states this one follows (`ockle mqtt remote`): their retained states and availability, each server UNKNOWN while its gateway or the broker is offline. Gateways named in dependencies (GATEWAY:SERVER), and those that depend on this one, are followed without being listed here (docs/mqtt.md, federation).',
  }),
  homeassistant: bool({ default: true, help: 'Announce servers, outlets and meters to Home Assistant by MQTT discovery (retained configs; removed when they leave the configuration).' }),
  homeassistant_prefix: str({ pattern: LEVEL, patternHelp: 'a topic level', default: 'homeassistant', help: 'Home Assistant’s discovery prefix.' }),
  outlet_switches: bool({ default: true, help: 'A Home Assistant switch for every outlet (forced: it switches exactly that outlet, whatever depends on it). Off: outlets show only as sensors.' }),
};
export const worker = builtModule(import.meta.url, 'plugin.js');
