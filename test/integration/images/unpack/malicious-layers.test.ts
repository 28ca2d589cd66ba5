import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { unpackLayer } from '../../../../agent/src/images/unpack/index.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { tempDir } from '../../../helpers/tmp.js';
import { buildTar, MT, snapshot, source } from './fixtures.js';
import { type Case, type Ctx, type Mode, NAME_AND_LINK_CASES } from './malicious-cases.js';
import { WHITEOUT_AND_TYPE_CASES } from './malicious-cases-whiteouts.js';

/**
 * Crafted layers that try to write, change or delete outside the unpack
 * target. Layout per case: a fresh temp dir holding `root/` (the target) and
 * a sibling `victim/` with known files. After the unpack, whether it threw or
 * not: victim/ is unchanged (listing, contents, modes, owners, mtimes and
 * ctimes, so not even a chmod or an xattr went through), nothing new appeared
 * next to root/, and nothing exists at the absolute paths a layer named.
 */

const { test } = hostSuite('unpack: malicious layers write nothing outside the root', ['setfattr', 'getfattr']);

const CASES: Case[] = [...NAME_AND_LINK_CASES, ...WHITEOUT_AND_TYPE_CASES];
const MODES: Mode[] = ['overlay', 'flat'];

async function runCase(c: Case, mode: Mode): Promise<void> {
  const tmp = await tempDir('gantry-malicious-');
  const ctx: Ctx = {
    tmp: tmp.path,
    root: path.join(tmp.path, 'root'),
    victim: path.join(tmp.path, 'victim'),
    evil: `/tmp/gantry-evil-${randomBytes(6).toString('hex')}`,
    mode,
  };
  try {
    await mkdir(ctx.root);
    await mkdir(path.join(ctx.victim, 'sub'), { recursive: true });
    await writeFile(path.join(ctx.victim, 'secret.txt'), 'secret\n', { mode: 0o640 });
    await writeFile(path.join(ctx.victim, 'sub/inner.txt'), 'inner\n', { mode: 0o600 });
    await c.prepare?.(ctx);
    const loose = (t: Awaited<ReturnType<typeof snapshot>>) =>
      c.looseInode ? Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, nlink: 0, ctimeMs: 0 }])) : t;
    const before = loose(await snapshot(ctx.victim, { times: true }));
    const tar = await buildTar(c.entries(ctx));
    const outcome = await withTimeout(
      unpackLayer({ source: source(tar, 700), mediaType: MT.tar, target: ctx.root, mode }).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
      10_000,
      c.name,
    );
    const expected = typeof c.expect === 'string' ? c.expect : c.expect[mode];
    if (expected === 'error') {
      assert.not.ok(outcome.ok, 'expected the layer to be refused');
      if (!outcome.ok) {
        assert.ok(isGantryError(outcome.e, 'invalid'), `expected an invalid GantryError, got ${String(outcome.e)}`);
        if (c.match) assert.match((outcome.e as Error).message, c.match);
      }
    } else {
      if (!outcome.ok) throw outcome.e;
      await c.check?.(ctx, outcome.r);
    }
    assert.equal(loose(await snapshot(ctx.victim, { times: true })), before, 'victim/ is unchanged');
    assert.equal((await readdir(ctx.tmp)).sort(), ['root', 'victim'], 'nothing new next to root/');
    assert.is(await lstat(ctx.evil).catch(() => undefined), undefined, `${ctx.evil} must not exist`);
  } finally {
    await tmp.cleanup();
  }
}

test('there are at least 25 cases, named uniquely', () => {
  assert.ok(CASES.length >= 25, `${CASES.length} cases`);
  assert.is(new Set(CASES.map((c) => c.name)).size, CASES.length);
});

for (const c of CASES) {
  for (const mode of MODES) test(`${c.name} [${mode}]`, () => runCase(c, mode));
}

test.run();
