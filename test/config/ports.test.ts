/**
 * `config check` and listen ports: the API and every enabled plugin that listens (a key declared
 * with `listenPort`) must not share a port on overlapping addresses, or the second to start
 * cannot listen. Port 0 never clashes; two different specific addresses do not either.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../drivers/registry.js';
import { builtinPluginTemplates } from '../../plugins/registry.js';
import { addressesOverlap, checkConfig } from '../../src/config/load.js';
import { listenPort, str, type Template } from '../../src/config/types.js';
import { formatProblem } from '../../src/errors.js';
import { demoConfig, type DemoCopy } from '../support/demo.js';

/** The demo's ockle.ini with the API and metrics listening where a test says. */
async function listen(d: DemoCopy, api: { listen: string; port: number }, metrics: { listen: string; port: number | null }, extra = ''): Promise<void> {
  const text = (await d.read('ockle.ini'))
    // Clear text beyond loopback is refused unless allowed (src/config/api-exposure.ts); these tests are about ports.
    .replace(/^\[api\]\n(;.*\n)listen = .*\nport = .*\n/m, `[api]\n$1listen = ${api.listen}\nport = ${api.port}\n${api.listen.startsWith('127.') ? '' : 'allow_plaintext = true\n'}`)
    .replace(/^\[plugins\.metrics\]\n(;.*\n)listen = .*\nport = .*\n/m, `[plugins.metrics]\n$1listen = ${metrics.listen}\n${metrics.port === null ? '' : `port = ${metrics.port}\n`}`);
  await d.write('ockle.ini', text + extra);
}

describe('listen ports in config check', () => {
  let demo: DemoCopy;
  const check = async (plugins: ReadonlyMap<string, Template> = builtinPluginTemplates): Promise<string[]> =>
    (await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins })).problems.filter((p) => p.severity === 'error').map(formatProblem);
  beforeEach(async () => {
    demo = await demoConfig();
  });
  afterEach(async () => {
    await demo.cleanup();
  });

  it('lets the API and the metrics plugin both take port 0 (any free port)', async () => {
    await listen(demo, { listen: '127.0.0.1', port: 0 }, { listen: '127.0.0.1', port: 0 });
    expect(await check()).toEqual([]);
  });

  it('reports the metrics plugin on the API port and address at its port key, naming the API', async () => {
    await listen(demo, { listen: '127.0.0.1', port: 8420 }, { listen: '127.0.0.1', port: 8420 });
    const errors = await check();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^ockle\.ini:40: \[plugins\.metrics\] port 8420 on 127\.0\.0\.1 clashes with \[api\] port 8420 on 127\.0\.0\.1 \(ockle\.ini:12\)/);
    expect(errors[0]).toMatch(/Set port = another free port in \[plugins\.metrics\]/);
    const { problems } = await checkConfig(demo.configDir, { drivers: defaultRegistry(), plugins: builtinPluginTemplates });
    expect(problems.find((p) => p.severity === 'error')).toMatchObject({ file: 'ockle.ini', line: 40, key: 'port' });
  });

  it('counts a wildcard address as every address of its family', async () => {
    await listen(demo, { listen: '127.0.0.1', port: 9000 }, { listen: '0.0.0.0', port: 9000 });
    expect(await check()).toEqual([expect.stringMatching(/^ockle\.ini:40: \[plugins\.metrics\] port 9000 on 0\.0\.0\.0 clashes with \[api\] port 9000 on 127\.0\.0\.1/)]);
    await demo.cleanup();
    demo = await demoConfig();
    await listen(demo, { listen: '::', port: 9000 }, { listen: '127.0.0.1', port: 9000 });
    expect(await check()).toEqual([expect.stringMatching(/clashes with \[api\] port 9000 on every address/)]);
  });

  it('lets two different specific addresses share a port', async () => {
    await listen(demo, { listen: '127.0.0.1', port: 9000 }, { listen: '127.0.0.2', port: 9000 });
    expect(await check()).toEqual([]);
  });

  it('checks a port left at its default: the metrics plugin without a port key takes 9464', async () => {
    await listen(demo, { listen: '127.0.0.1', port: 9464 }, { listen: '127.0.0.1', port: null });
    expect(await check()).toEqual([expect.stringMatching(/^ockle\.ini:37: \[plugins\.metrics\] port 9464 \(the default\) on 127\.0\.0\.1 clashes with \[api\] port 9464/)]);
  });

  it('ignores a plugin that is configured but not enabled', async () => {
    await listen(demo, { listen: '127.0.0.1', port: 9000 }, { listen: '127.0.0.1', port: 9000 });
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^enabled = .*$/m, 'enabled = auto-control, logger'));
    expect(await check()).toEqual([]);
  });

  it('reports two plugins on one port at the second one’s port key, naming the first', async () => {
    const exporter: Template = {
      address: str({ default: '127.0.0.1', help: 'Listen address.' }),
      port: listenPort({ addressKey: 'address', default: 9100, help: 'Listen port.' }),
    };
    await listen(demo, { listen: '127.0.0.1', port: 0 }, { listen: '0.0.0.0', port: 9100 }, '\n[plugins.exporter]\naddress = 127.0.0.1\nport = 9100\n');
    await demo.write('ockle.ini', (await demo.read('ockle.ini')).replace(/^enabled = (.*)$/m, 'enabled = $1, exporter'));
    const lines = (await demo.read('ockle.ini')).split('\n');
    const portLine = lines.lastIndexOf('port = 9100') + 1;
    expect(await check(new Map([...builtinPluginTemplates, ['exporter', exporter]]))).toEqual([
      `ockle.ini:${portLine}: [plugins.exporter] port 9100 on 127.0.0.1 clashes with [plugins.metrics] port 9100 on 0.0.0.0 (ockle.ini:40): only one of them can listen Set port = another free port in [plugins.exporter] (0: any free port), or make both listen on different specific addresses.`,
    ]);
  });

  it('knows which listen addresses overlap, as Linux binds them', () => {
    const clash: [string, string][] = [
      ['127.0.0.1', '127.0.0.1'],
      ['127.0.0.1', '0.0.0.0'],
      ['0.0.0.0', '192.0.2.7'],
      ['::', '127.0.0.1'],
      ['::', '0.0.0.0'],
      ['[::]', '::1'],
      ['', '127.0.0.1'],
      ['::1', '::1'],
      ['localhost', '127.0.0.1'],
      ['localhost', '::1'],
      ['localhost', '0.0.0.0'],
      ['gw.lab.example', 'gw.lab.example'],
    ];
    const apart: [string, string][] = [
      ['127.0.0.1', '127.0.0.2'],
      ['0.0.0.0', '::1'],
      ['127.0.0.1', '::1'],
      ['localhost', '127.0.0.2'],
      ['gw.lab.example', '127.0.0.1'],
    ];
    for (const [a, b] of clash) expect([a, b, addressesOverlap(a, b), addressesOverlap(b, a)]).toEqual([a, b, true, true]);
    for (const [a, b] of apart) expect([a, b, addressesOverlap(a, b), addressesOverlap(b, a)]).toEqual([a, b, false, false]);
  });
});
