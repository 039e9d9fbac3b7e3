/**
 * `nut`'s definition: its config keys and checks, without the upsd client (index.ts) that config
 * loading and `config check` need not load.
 */
import { duration, int, secret, select, str } from '../../src/config/types.js';
import { sketchDriver, type SpecProblem } from '../types.js';

export const nutTemplate = {
  host: str({ required: true, help: 'Address of the NUT server (upsd), a name or an IP.' }),
  port: int({ min: 1, max: 65535, default: 3493, help: 'TCP port of upsd.' }),
  ups: str({ required: true, pattern: /^[^\s"\\@]+$/, patternHelp: 'a UPS name as upsd knows it (`upsc -l HOST` lists them)', help: 'The UPS name on upsd (its [section] in ups.conf).' }),
  username: str({ help: 'upsd user (upsd.users) with `upsmon secondary` (or `upsmon primary` for mode = primary). Without one ockle only reads, and upsmon does not wait for it.' }),
  password: secret({ help: 'Password of that upsd user. Never logged.' }),
  mode: select({
    choices: ['secondary', 'primary'],
    default: 'secondary',
    help: 'secondary: read and stay logged in; primary: may also raise FSD (forced shutdown) on the UPS at the final stage.',
  }),
  request_timeout: duration({ min: 100, max: 60_000, default: 3000, help: 'Time limit of one request to upsd (and of connecting).' }),
};

export const nutSketch = sketchDriver({
  kind: 'ups',
  type: 'nut',
  description: 'A UPS served by NUT’s upsd (Network UPS Tools), read as a logged-in monitor; primary mode may raise FSD.',
  template: nutTemplate,
  check: (spec) => {
    const problems: SpecProblem[] = [];
    if (spec.password && spec.username === undefined)
      problems.push({ key: 'password', message: 'password without username', hint: 'Add username = the upsd.users user this password belongs to.' });
    if (spec.username !== undefined && !spec.password)
      problems.push({ key: 'username', message: 'username without password (upsd refuses LOGIN without one)', hint: 'Add password = the user’s password from upsd.users.' });
    if (spec.mode === 'primary' && spec.username === undefined)
      problems.push({ key: 'mode', message: 'mode = primary needs a username with `upsmon primary` in upsd.users', hint: 'Add username and password, or set mode = secondary.' });
    if (spec.username !== undefined && /[\s"\\]/.test(spec.username))
      problems.push({ key: 'username', message: 'username holds a space, quote or backslash', hint: 'Use the user name exactly as in upsd.users ([name]).' });
    if (spec.password && /[\r\n\0]/.test(spec.password.reveal()))
      problems.push({ key: 'password', message: 'password holds a line break', hint: 'A NUT password is one line.' });
    return problems;
  },
});
