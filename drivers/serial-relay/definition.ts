/**
 * `serial-relay`'s definition: its config keys and checks (the codecs are data), without the
 * serial port code (index.ts) that config loading and `config check` need not load.
 */
import { duration, int, select, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';
import { relayCommonTemplate } from '../relay/template.js';
import { CODECS } from './codecs.js';

export const serialTemplate = {
  ...relayCommonTemplate,
  path: str({ required: true, restart: true, help: 'Serial device; prefer the stable /dev/serial/by-id/… path over /dev/ttyUSB0.' }),
  protocol: select({ choices: CODECS.map((c) => c.name) as [string, ...string[]], required: true, help: 'Board protocol: lcus, numato or kmtronic (see docs/relays.md).' }),
  baud: int({ min: 300, max: 921_600, default: 9600, help: 'Baud rate (LCUS and KMTronic: 9600; Numato: any, it is a CDC port).' }),
  request_timeout: duration({ min: 20, max: 30_000, default: 500, help: 'How long one reply may take.' }),
  status_query: select({
    choices: ['auto', 'yes', 'no'],
    default: 'auto',
    help: 'lcus only: whether the board answers the FF status query (the 4-channel LCUS does). yes: relays are read from the board; no: states are assumed and only switch frames are sent; auto: with outlets = 4, asked once when the port opens, assumed when the board does not answer.',
  }),
};

export const serialRelaySketch = sketchDriver({
  kind: 'outlet',
  type: 'serial-relay',
  description: 'USB or RS-485 relay board on a serial port (LCUS/CH340, Numato, KMTronic).',
  template: serialTemplate,
  outletCount: (spec) => spec.outlets,
  check: (spec) => {
    const codec = CODECS.find((c) => c.name === spec.protocol)!;
    const problems: { key: string; message: string; hint: string }[] = [];
    if (spec.outlets > codec.maxChannels)
      problems.push({ key: 'outlets', message: `protocol ${codec.name} drives at most ${codec.maxChannels} relays`, hint: `Use outlets = 1–${codec.maxChannels}, or one device file per board.` });
    if (spec.status_query !== 'auto' && !codec.statusQuery)
      problems.push({ key: 'status_query', message: `status_query applies to protocol = lcus only (${codec.name} boards are always read)`, hint: 'Remove the status_query line.' });
    return problems;
  },
});
