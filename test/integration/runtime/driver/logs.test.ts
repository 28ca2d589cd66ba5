import { stat } from 'node:fs/promises';
import * as assert from 'uvu/assert';
import { readLogs } from '../../../../agent/src/runtime/driver/index.js';
import type { LogLine } from '../../../../agent/src/runtime/types.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type Bench, makeBench, TOOLS, teardown } from './fixtures.js';

const { test, paths } = hostSuite<{ b: Bench }>('driver: container logs through conmon (k8s-file)', TOOLS);

test.before.each(async (ctx) => {
  ctx.b = await makeBench(paths.runc as string, paths.busybox as string);
});
test.after.each(async (ctx) => {
  await teardown(ctx.b);
});

async function all(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

async function runToExit(b: Bench, id: string, script: string, logSizeMax: number): Promise<void> {
  const bundle = await b.bundle(id, ['sh', '-c', script]);
  await b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax });
  await b.runtime.start(id);
  // conmon drains the container's pipes into the log before it writes the exit file (conmon.c, drain_stdio).
  await withTimeout(b.runtime.waitExit(id), 20_000, `${id} to exit`);
}

test('stdout and stderr lines in order, with timestamps; partial lines; tail counts logical lines', async ({ b }) => {
  const id = b.id();
  const script = [
    'echo out1; sleep 0.1',
    'echo err1 >&2; sleep 0.1',
    'printf no-newline; sleep 0.1',
    'echo " done"; sleep 0.1',
    'head -c 20000 /dev/zero | tr "\\0" x; echo; sleep 0.1',
    'echo last',
  ].join('; ');
  await runToExit(b, id, script, 1024 * 1024);
  const lines = await all(readLogs(b.logPath(id), {}));
  const brief = lines.slice(0, 4).map((l) => [l.stream, l.complete, l.text]);
  assert.equal(brief, [
    ['stdout', true, 'out1'],
    ['stderr', true, 'err1'],
    ['stdout', false, 'no-newline'],
    ['stdout', true, ' done'],
  ]);
  // conmon reads at most 8 KiB at a time: the 20000-byte line comes as P records, then an F.
  const long = lines.slice(4, -1);
  assert.ok(long.length >= 3, `${long.length} records`);
  assert.ok(long.slice(0, -1).every((l) => !l.complete) && long.at(-1)?.complete === true);
  assert.is(long.map((l) => l.text).join(''), 'x'.repeat(20000));
  assert.equal([lines.at(-1)?.text, lines.at(-1)?.complete], ['last', true]);
  const times = lines.map((l) => Date.parse(l.time));
  assert.ok(
    times.every((t, i) => i === 0 || t >= (times[i - 1] as number)),
    'timestamps never go back',
  );
  assert.ok(Math.abs((times[0] as number) - Date.now()) < 60_000, lines[0]?.time);

  assert.equal(
    (await all(readLogs(b.logPath(id), { tail: 1 }))).map((l) => l.text),
    ['last'],
  );
  const tail2 = await all(readLogs(b.logPath(id), { tail: 2 }));
  assert.is(tail2.length, long.length + 1, 'the long line is one line however many records');
  const since = await all(readLogs(b.logPath(id), { since: new Date(times.at(-1) as number) }));
  assert.is(since.at(-1)?.text, 'last');
  assert.ok(since.length < lines.length);
});

test('--log-size-max holds while a chatty container writes; a follower sees lines in order up to the last', async ({
  b,
}) => {
  const id = b.id();
  const cap = 8192;
  const bundle = await b.bundle(id, [
    'sh',
    '-c',
    'i=0; while [ $i -lt 20000 ]; do echo "line $i ................................"; i=$((i+1)); done',
  ]);
  await b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: cap });
  const ac = new AbortController();
  const seen: number[] = [];
  const follower = (async () => {
    // conmon reads the pipe 8 KiB at a time, so a line can come as a P record and the F that ends it.
    let pending = '';
    for await (const l of readLogs(b.logPath(id), { follow: true, signal: ac.signal })) {
      pending += l.text;
      if (!l.complete) continue;
      seen.push(Number(/^line (\d+) \.+$/.exec(pending)?.[1]));
      if (pending.startsWith('line 19999 ')) return;
      pending = '';
    }
  })();
  await b.runtime.start(id);
  let max = 0;
  let samples = 0;
  const exited = b.runtime.waitExit(id);
  let done = false;
  void exited.finally(() => {
    done = true;
  });
  while (!done) {
    const size = await stat(b.logPath(id)).then(
      (s) => s.size,
      () => 0,
    );
    max = Math.max(max, size);
    samples += 1;
  }
  assert.is((await exited).exitCode, 0);
  process.stderr.write(`    [measure] log cap ${cap}: largest size seen ${max} bytes over ${samples} samples\n`);
  const oneRecord = 46 + 50; // timestamp, stream and tag + the text and its newline
  assert.ok(max <= cap + oneRecord, `log grew to ${max} bytes, cap ${cap}`);
  await withTimeout(follower, 10_000, 'the follower to reach the last line');
  ac.abort();
  const bad = seen.findIndex((n, i) => i > 0 && n <= (seen[i - 1] as number));
  assert.is(
    bad,
    -1,
    `strictly increasing: no repeats, no reorder: ${JSON.stringify(seen.slice(Math.max(0, bad - 5), bad + 5))}`,
  );
  assert.is(seen.at(-1), 19999);
  const final = await all(readLogs(b.logPath(id), {}));
  assert.is(final.at(-1)?.text.startsWith('line 19999 '), true);
  assert.ok((await stat(b.logPath(id))).size <= cap);
});

test('a follower loses nothing across conmon rotations when it keeps up', async ({ b }) => {
  const id = b.id();
  const bundle = await b.bundle(id, [
    'sh',
    '-c',
    'i=0; while [ $i -lt 40 ]; do echo "slow $i"; i=$((i+1)); sleep 0.02; done',
  ]);
  await b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: 600 });
  const ac = new AbortController();
  const texts: string[] = [];
  const follower = (async () => {
    for await (const l of readLogs(b.logPath(id), { follow: true, signal: ac.signal })) {
      texts.push(l.text);
      if (l.text === 'slow 39') return;
    }
  })();
  await b.runtime.start(id);
  await withTimeout(follower, 15_000, 'the follower to reach slow 39');
  ac.abort();
  assert.equal(
    texts,
    Array.from({ length: 40 }, (_, i) => `slow ${i}`),
  );
  const onDisk = await all(readLogs(b.logPath(id), {}));
  assert.ok(onDisk.length < 40, `the file was rotated (${onDisk.length} lines left)`);
});

test.run();
