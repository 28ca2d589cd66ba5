import { appendFile, rename, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readLogs } from '../../../../agent/src/runtime/driver/index.js';
import type { LogLine } from '../../../../agent/src/runtime/types.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

const test = suite<{ dir: TempDir; file: string }>('driver: readLogs (tail, since, follow across rotation)');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-logs-');
  ctx.file = path.join(ctx.dir.path, 'ctr.log');
});
test.after.each(async (ctx) => {
  await ctx.dir?.cleanup();
});

const T0 = Date.parse('2026-03-01T10:00:00Z');
/** One conmon record; `s` seconds after T0. */
function rec(text: string, opts: { s?: number; tag?: 'F' | 'P'; stream?: string } = {}): string {
  const iso = new Date(T0 + (opts.s ?? 0) * 1000).toISOString().replace('Z', '000000+00:00');
  return `${iso} ${opts.stream ?? 'stdout'} ${opts.tag ?? 'F'} ${text}\n`;
}

async function all(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

/** Pull from a follower until `n` lines came (bounded in time). */
async function take(it: AsyncIterator<LogLine>, n: number, what: string): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await withTimeout(it.next(), 5000, `${what}: line ${out.length + 1} of ${n}`);
    if (r.done) break;
    out.push(r.value.text);
  }
  return out;
}

const texts = (ls: LogLine[]) => ls.map((l) => l.text);

test('whole file: records in order, bad lines skipped, a last record without newline held back', async ({ file }) => {
  await writeFile(file, `${rec('a')}garbage\n${rec('b', { stream: 'stderr' })}${rec('torn').slice(0, -3)}`);
  const lines = await all(readLogs(file, {}));
  assert.equal(texts(lines), ['a', 'b']);
  assert.is(lines[1]?.stream, 'stderr');
});

test('a missing file yields nothing when not following', async ({ file }) => {
  assert.equal(await all(readLogs(file, {})), []);
});

test('tail counts logical lines: P records join the F that ends them', async ({ file }) => {
  await writeFile(
    file,
    rec('a') + rec('b1', { tag: 'P' }) + rec('b2', { tag: 'P' }) + rec('b3') + rec('c') + rec('d', { tag: 'P' }),
  );
  assert.equal(texts(await all(readLogs(file, { tail: 0 }))), []);
  assert.equal(texts(await all(readLogs(file, { tail: 1 }))), ['d']);
  assert.equal(texts(await all(readLogs(file, { tail: 2 }))), ['c', 'd']);
  assert.equal(texts(await all(readLogs(file, { tail: 3 }))), ['b1', 'b2', 'b3', 'c', 'd']);
  assert.equal(texts(await all(readLogs(file, { tail: 4 }))).length, 6);
  assert.equal(texts(await all(readLogs(file, { tail: 99 }))).length, 6);
});

test('tail reads from the end across 64 KiB chunks', async ({ file }) => {
  const n = 20_000; // ~1.1 MB
  await writeFile(file, Array.from({ length: n }, (_, i) => rec(`line ${i}`)).join(''));
  assert.equal(texts(await all(readLogs(file, { tail: 3 }))), ['line 19997', 'line 19998', 'line 19999']);
  const many = texts(await all(readLogs(file, { tail: 5000 })));
  assert.is(many.length, 5000);
  assert.is(many[0], 'line 15000');
});

test('since keeps lines at or after the time; with tail', async ({ file }) => {
  await writeFile(file, rec('old', { s: 0 }) + rec('edge', { s: 10 }) + rec('new', { s: 20 }));
  const since = new Date(T0 + 10_000);
  assert.equal(texts(await all(readLogs(file, { since }))), ['edge', 'new']);
  assert.equal(texts(await all(readLogs(file, { since, tail: 1 }))), ['new']);
});

test('follow: appended lines, a torn record completed later, then abort ends it', async ({ file }) => {
  await writeFile(file, rec('first'));
  const ac = new AbortController();
  const it = readLogs(file, { follow: true, tail: 10, signal: ac.signal })[Symbol.asyncIterator]();
  assert.equal(await take(it, 1, 'existing'), ['first']);
  const half = rec('second');
  await appendFile(file, half.slice(0, 20));
  await new Promise((r) => setTimeout(r, 50));
  await appendFile(file, half.slice(20) + rec('third'));
  assert.equal(await take(it, 2, 'appended'), ['second', 'third']);
  ac.abort();
  const end = await withTimeout(it.next(), 2000, 'the follower to stop on abort');
  assert.is(end.done, true);
});

test('follow: a file that shrinks in place is read again from the start', async ({ file }) => {
  await writeFile(file, rec('one') + rec('two'));
  const ac = new AbortController();
  const it = readLogs(file, { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
  assert.equal(await take(it, 2, 'before'), ['one', 'two']);
  await truncate(file, 0);
  await appendFile(file, rec('after'));
  assert.equal(await take(it, 1, 'after truncation'), ['after']);
  ac.abort();
  await it.return?.(undefined);
});

test('follow: rotation as conmon does it (new file renamed over the path) loses nothing written before', async ({
  dir,
  file,
}) => {
  await writeFile(file, rec('r1'));
  const ac = new AbortController();
  const it = readLogs(file, { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
  assert.equal(await take(it, 1, 'first'), ['r1']);
  // The reader is idle while both happen: the old file's tail must still be read through its open fd.
  await appendFile(file, rec('r2'));
  const tmp = path.join(dir.path, 'ctr.log.tmp');
  await writeFile(tmp, rec('n1'));
  await rename(tmp, file);
  await appendFile(file, rec('n2'));
  assert.equal(await take(it, 3, 'across rotation'), ['r2', 'n1', 'n2']);
  ac.abort();
  await it.return?.(undefined);
});

test('follow: a log that does not exist yet is waited for', async ({ file }) => {
  const ac = new AbortController();
  const it = readLogs(file, { follow: true, signal: ac.signal })[Symbol.asyncIterator]();
  const next = take(it, 1, 'the file to appear');
  await new Promise((r) => setTimeout(r, 50));
  await writeFile(file, rec('hello'));
  assert.equal(await next, ['hello']);
  ac.abort();
  await it.return?.(undefined);
});

test.run();
