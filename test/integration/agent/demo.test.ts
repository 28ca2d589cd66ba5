import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../helpers/agent.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { run } from '../../helpers/processes.js';
import { tempDataDir } from '../../helpers/tmp.js';

const { test } = hostSuite("demo: the README's main command", ['runc', 'conmon', 'busybox', 'socat']);

test('scripts/demo.ts deploys the two-app demo, shows it running, then removes it and stops', async () => {
  const dir = await tempDataDir();
  const images = await tempDataDir();
  try {
    const res = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO_ROOT, 'scripts/demo.ts'),
        '--once',
        '--data-dir',
        path.join(dir.path, 'data'),
        '--images',
        images.path,
      ],
      {
        cwd: REPO_ROOT,
        timeoutMs: 120_000,
      },
    );
    assert.is(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /Profile:\s+generic-x86_64/);
    assert.match(res.stdout, /Device:\s+gw-[0-9a-f]{12}/);
    assert.match(res.stdout, /Revision 1 applied/);
    assert.match(res.stdout, /meter\s+1\s+\S+sdk-app\s+running/);
    assert.match(res.stdout, /telemetry from gw-[0-9a-f]+: meter\/(sim-temp|slave1\.register0) = /);
    assert.match(res.stdout, /ticker\s+1\s+\S+busybox\s+running/);
    assert.match(res.stdout, /Revision 2 applied/, 'the clean-up revision removed the apps');
    const log = await readFile(path.join(dir.path, 'data.log'), 'utf8');
    assert.match(log, /"msg":"agent stopped"/);
  } finally {
    await dir.cleanup();
    await images.cleanup();
  }
});

test.run();
