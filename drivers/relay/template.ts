/** The config keys every relay driver shares: light, for the drivers' definitions (no I/O). */
import { bool, int } from '../../src/config/types.js';

/** Keys every relay device has. */
export const relayCommonTemplate = {
  outlets: int({ min: 1, max: 64, required: true, help: 'Number of relays (outlets 1…N are relays 1…N).' }),
  invert: bool({
    default: false,
    help: 'The servers are wired through the normally-closed contact: an energised relay means power OFF.',
  }),
};
