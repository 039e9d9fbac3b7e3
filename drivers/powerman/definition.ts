/**
 * `powerman`'s definition: its config keys and checks, without the powermand client (index.ts)
 * that config loading and `config check` need not load.
 */
import { bool, duration, int, list, str } from '../../src/config/types.js';
import { sketchDriver } from '../types.js';

export const powermanTemplate = {
  host: str({ default: '127.0.0.1', help: 'Address of powermand (its `listen` line in powerman.conf).' }),
  port: int({ min: 1, max: 65535, default: 10101, help: 'TCP port of powermand.' }),
  nodes: list({
    help: 'powerman node names in outlet order (outlet 1 is the first). Without it, every node powermand lists, in its order: set it so that a node added to powerman.conf does not renumber the outlets.',
  }),
  reset: bool({ default: false, help: 'The devices behind these nodes support powerman’s `reset` (a warm reset, e.g. through a BMC).' }),
  request_timeout: duration({
    min: 100,
    max: 600_000,
    default: 10_000,
    help: 'How long one command waits for powermand’s answer (it answers a switch once its device script ran). The device’s `timeout` bounds each operation too: raise both for a slow controller.',
  }),
};

export const powermanSketch = sketchDriver({
  kind: 'outlet',
  type: 'powerman',
  description: 'The plugs of a powermand (powerman’s daemon: dozens of PDUs and BMCs) over its TCP client protocol, one outlet per node.',
  template: powermanTemplate,
  outletCount: (spec) => spec.nodes?.length,
  check: (spec) => (spec.nodes && spec.nodes.length === 0 ? [{ key: 'nodes', message: 'nodes is empty', hint: 'List node names, or remove the key to use every node powermand has.' }] : []),
});
