import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatBytes, PullProgress } from '../../../agent/src/cli/progress.js';

const test = suite('pull progress rendering');
const D = `sha256:${'ab'.repeat(32)}`;

test('formatBytes', () => {
  assert.is(formatBytes(512), '512 B');
  assert.is(formatBytes(1536), '1.5 KiB');
  assert.is(formatBytes(50 * 1048576), '50 MiB');
});

test('without a TTY: one line per state change, none per byte', () => {
  const out: string[] = [];
  const p = new PullProgress((t) => out.push(t), false);
  p.onEvent({ type: 'layer', digest: D, size: 2048, status: 'waiting' });
  p.onEvent({ type: 'layer', digest: D, size: 2048, status: 'downloading', have: 100 });
  p.onEvent({ type: 'layer', digest: D, size: 2048, status: 'downloading', have: 1000 });
  p.onEvent({ type: 'layer', digest: D, size: 2048, status: 'done' });
  assert.equal(out, [
    'abababababab: waiting 2.0 KiB\n',
    'abababababab: downloading 2.0 KiB\n',
    'abababababab: done 2.0 KiB\n',
  ]);
});

test('on a TTY: a bar with bytes, rate and ETA, redrawn in place', () => {
  let now = 0;
  const out: string[] = [];
  const p = new PullProgress(
    (t) => out.push(t),
    true,
    () => now,
    10,
  );
  p.onEvent({ type: 'layer', digest: D, size: 1048576, status: 'downloading', have: 0 });
  now = 2000;
  p.onEvent({ type: 'layer', digest: D, size: 1048576, status: 'downloading', have: 524288 });
  const last = out.at(-1) as string;
  assert.is(last, 'abababababab  downloading [#####-----] 512 KiB / 1.0 MiB  256 KiB/s  ETA 2s\n');
  assert.ok(out.includes('\x1b[1A\x1b[0J'), 'moves up over the previous block');
});

test.run();
