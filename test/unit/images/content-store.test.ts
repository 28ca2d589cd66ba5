import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../agent/src/errors.js';
import { type BlobFetcher, ContentStore } from '../../../agent/src/images/content/store.js';
import type { Digest } from '../../../agent/src/images/digest.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir; store: ContentStore }>('content store (real files)');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir();
  ctx.store = new ContentStore(ctx.dir.path);
  await ctx.store.init();
});
test.after.each(async (ctx) => {
  await ctx.dir.cleanup();
});

const blob = randomBytes(300_000);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}` as Digest;

/** Serves `data` from the asked offset in 16 KiB chunks; may cut after `cutAfter` bytes or ignore Range. */
function server(data: Buffer, opts: { cutAfter?: number[]; ignoreRange?: boolean } = {}) {
  const calls: number[] = [];
  const cuts = [...(opts.cutAfter ?? [])];
  const fetch: BlobFetcher = async (offset) => {
    calls.push(offset);
    const start = opts.ignoreRange ? 0 : offset;
    const cut = cuts.shift();
    async function* body() {
      let sent = 0;
      for (let i = start; i < data.length; i += 16384) {
        const chunk = data.subarray(i, Math.min(i + 16384, data.length));
        if (cut !== undefined && sent + chunk.length > cut) {
          yield chunk.subarray(0, cut - sent);
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        }
        sent += chunk.length;
        yield chunk;
      }
    }
    return { body: Readable.from(body()), offset: start };
  };
  return { fetch, calls };
}

test('ingest verifies and commits; a second ingest downloads nothing', async ({ store }) => {
  const s = server(blob);
  assert.equal(await store.ingest(digest, blob.length, s.fetch), { downloaded: blob.length, resumed: 0 });
  assert.ok((await store.read(digest)).equals(blob));
  assert.equal(await store.ingest(digest, blob.length, s.fetch), { downloaded: 0, resumed: 0 });
  assert.equal(s.calls, [0]);
});

test('a body cut mid-way resumes from where it stopped', async ({ store }) => {
  const s = server(blob, { cutAfter: [100_000, 50_000] });
  const r = await store.ingest(digest, blob.length, s.fetch);
  assert.equal(s.calls, [0, 100_000, 150_000]);
  assert.is(r.downloaded, blob.length);
  assert.ok((await store.read(digest)).equals(blob));
});

test('a partial left by a crash is re-hashed and continued', async ({ store, dir }) => {
  await writeFile(path.join(dir.path, 'ingest', digest.slice(7)), blob.subarray(0, 123_456));
  const s = server(blob);
  const r = await store.ingest(digest, blob.length, s.fetch);
  assert.equal(s.calls, [123_456]);
  assert.equal(r, { downloaded: blob.length - 123_456, resumed: 123_456 });
  assert.ok((await store.read(digest)).equals(blob));
});

test('a partial that is already complete is committed without asking the source (which would answer 416)', async ({
  store,
  dir,
}) => {
  await writeFile(path.join(dir.path, 'ingest', digest.slice(7)), blob);
  const s = server(blob);
  assert.equal(await store.ingest(digest, blob.length, s.fetch), { downloaded: 0, resumed: blob.length });
  assert.equal(s.calls, []);
  assert.ok(await store.has(digest));
});

test('a source that ignores Range starts over instead of appending twice', async ({ store, dir }) => {
  await writeFile(path.join(dir.path, 'ingest', digest.slice(7)), blob.subarray(0, 1000));
  const r = await store.ingest(digest, blob.length, server(blob, { ignoreRange: true }).fetch);
  assert.is(r.downloaded, blob.length);
  assert.ok((await store.read(digest)).equals(blob));
});

test('wrong content is refused and nothing is committed or kept', async ({ store, dir }) => {
  const evil = Buffer.from(blob);
  evil[1000] = (evil[1000] ?? 0) ^ 0xff;
  try {
    await store.ingest(digest, blob.length, server(evil).fetch);
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'));
    assert.match((e as Error).message, /hashing to sha256:/);
  }
  assert.not.ok(await store.has(digest));
  assert.equal(await readdir(path.join(dir.path, 'ingest')), []);
});

test('more bytes than the descriptor says is refused at once', async ({ store }) => {
  try {
    await store.ingest(digest, blob.length - 1, server(blob).fetch);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /larger than its descriptor's/);
  }
  assert.not.ok(await store.has(digest));
});

test('a source that keeps failing gives up after the attempts', async ({ store }) => {
  const s = server(blob, { cutAfter: [10, 10, 10] });
  try {
    await store.ingest(digest, blob.length, s.fetch, { attempts: 3 });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code?: string }).code, 'ECONNRESET');
  }
  assert.equal(s.calls, [0, 10, 20]);
});

test('concurrent ingests of one digest share one download', async ({ store }) => {
  const s = server(blob);
  await Promise.all([store.ingest(digest, blob.length, s.fetch), store.ingest(digest, blob.length, s.fetch)]);
  assert.equal(s.calls, [0]);
});

test('put() verifies the digest of bytes in memory', async ({ store }) => {
  const small = Buffer.from('{"a":1}');
  const smallDigest = `sha256:${createHash('sha256').update(small).digest('hex')}` as Digest;
  await store.put(smallDigest, small);
  assert.ok((await store.read(smallDigest)).equals(small));
  try {
    await store.put(digest, small);
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'));
  }
  assert.not.ok(await store.has(digest));
  assert.equal(
    (await store.list()).map((b) => b.digest),
    [smallDigest],
  );
});

test.run();
