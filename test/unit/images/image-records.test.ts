import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Digest } from '../../../agent/src/images/digest.js';
import { type ImageRecord, ImageRecords } from '../../../agent/src/images/image-records.js';
import { type Db, openDatabase } from '../../../agent/src/state/database.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir; db: Db; records: ImageRecords }>('image records (real SQLite)');
const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;

test.before.each(async (ctx) => {
  ctx.dir = await tempDir();
  ctx.db = openDatabase(path.join(ctx.dir.path, 'state.db'));
  ctx.records = new ImageRecords(ctx.db);
});
test.after.each(async (ctx) => {
  ctx.db.close();
  await ctx.dir.cleanup();
});

function image(ref: string, manifest: string, layer: string): ImageRecord {
  return {
    ref,
    manifestDigest: d(manifest),
    configDigest: d('c'),
    platform: 'linux/amd64',
    size: 10,
    unpackedSize: 20,
    pulledAt: '2026-01-01T00:00:00.000Z',
    layers: [{ blobDigest: d(layer), diffId: d('e'), mediaType: 'x', size: 10 }],
  };
}

test('a tag that moves to another manifest releases the old layers', ({ records }) => {
  records.save(image('reg/app:1', '1', 'a'), new Map());
  records.save(image('reg/app:1', '2', 'b'), new Map());
  const { blobs } = records.referenced();
  assert.ok(blobs.has(d('b')));
  assert.not.ok(blobs.has(d('a')), 'layer of the old manifest is no longer referenced');
  assert.is(records.list().length, 1);
});

test('a manifest shared by two references keeps its layers until both are gone', ({ records }) => {
  records.save(image('reg/app:1', '1', 'a'), new Map());
  records.save(image('reg/app:latest', '1', 'a'), new Map());
  records.remove('reg/app:1');
  assert.ok(records.referenced().blobs.has(d('a')));
  records.remove('reg/app:latest');
  assert.equal([...records.referenced().blobs], []);
  assert.not.ok(records.remove('reg/app:latest'), 'removing twice says so');
});

test('lookup by digest prefix', ({ records }) => {
  records.save(image('reg/app:1', '1', 'a'), new Map());
  assert.equal(
    records.findByDigestPrefix('sha256:1111').map((r) => r.ref),
    ['reg/app:1'],
  );
  assert.equal(records.get('reg/app:1')?.layers.length, 1);
});

test.run();
