import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { indexTar } from '../../../agent/src/images/sources/tar-index.js';
import { buildLayerTar } from '../../../scripts/lib/tar-layer.js';
import { tempDir } from '../../helpers/tmp.js';

const test = suite('tar index (OCI archives read in place)');

test('regular files by name with data offsets, long names included, dirs and links skipped', async () => {
  const dir = await tempDir();
  try {
    const long = `blobs/sha256/${'f'.repeat(64)}/${'x'.repeat(120)}`;
    const tar = await buildLayerTar([
      { type: 'file', path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
      { type: 'dir', path: 'blobs' },
      { type: 'file', path: long, content: 'long name body' },
      { type: 'file', path: 'empty', content: '' },
      { type: 'symlink', path: 'link', target: 'oci-layout' },
    ]);
    const file = path.join(dir.path, 'a.tar');
    await writeFile(file, tar);
    const idx = await indexTar(file);
    assert.equal([...idx.keys()].sort(), ['empty', long, 'oci-layout'].sort());
    const m = idx.get(long);
    assert.is(tar.subarray(m?.offset, (m?.offset ?? 0) + (m?.size ?? 0)).toString(), 'long name body');
    assert.is(idx.get('empty')?.size, 0);
    for (const cut of [700, 1600]) {
      await writeFile(file, tar.subarray(0, cut));
      await indexTar(file).then(
        () => assert.unreachable(`archive cut at ${cut}`),
        (e: Error) => assert.match(e.message, /runs past the end|ends inside a tar header/),
      );
    }
    await writeFile(file, tar.subarray(0, 700));
    await indexTar(file).then(
      () => assert.unreachable('truncated archive'),
      (e: Error) => assert.match(e.message, /runs past the end|ends inside a tar header/),
    );
  } finally {
    await dir.cleanup();
  }
});

test.run();
