import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../helpers/agent.js';
import { run } from '../../helpers/processes.js';
import { tempDataDir } from '../../helpers/tmp.js';

const test = suite("demo: the README's main command");

test('scripts/demo.ts starts the agent, prints gantry info and stops cleanly', async () => {
  const dir = await tempDataDir();
  try {
    const res = await run(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/demo.ts'), '--once', '--data-dir', dir.path],
      {
        cwd: REPO_ROOT,
        timeoutMs: 30_000,
      },
    );
    assert.is(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /Profile:\s+generic-x86_64/);
    assert.match(res.stdout, /Device:\s+gw-[0-9a-f]{12}/);
    assert.match(res.stderr, /"msg":"agent stopped"/);
  } finally {
    await dir.cleanup();
  }
});

test.run();
