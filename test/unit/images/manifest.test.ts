import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isIndexDocument, parseImageConfig, parseIndex, parseManifest } from '../../../agent/src/images/manifest.js';
import { MT } from '../../../agent/src/images/media-types.js';

const test = suite('manifest parsing');
const D = (c: string) => `sha256:${c.repeat(64)}`;
const j = (v: unknown) => Buffer.from(JSON.stringify(v));

const manifest = {
  schemaVersion: 2,
  mediaType: MT.ociManifest,
  config: { mediaType: MT.ociConfig, digest: D('c'), size: 10 },
  layers: [
    { mediaType: MT.ociLayerGzip, digest: D('1'), size: 100 },
    { mediaType: MT.ociLayerZstd, digest: D('2'), size: 200 },
  ],
};

test('a manifest parses; a bad layer type or digest is named', () => {
  const m = parseManifest(j(manifest), 'm');
  assert.is(m.layers.length, 2);
  assert.is(m.config.digest, D('c'));
  assert.throws(
    () => parseManifest(j({ ...manifest, layers: [{ mediaType: 'text/plain', digest: D('1'), size: 1 }] }), 'm'),
    /m layers\[0\]: unsupported layer media type text\/plain/,
  );
  assert.throws(
    () => parseManifest(j({ ...manifest, config: { ...manifest.config, digest: 'sha256:../../etc' } }), 'm'),
    /m config\.digest "sha256:\.\.\/\.\.\/etc" is not a valid sha256 digest/,
  );
  assert.throws(
    () => parseManifest(j({ ...manifest, layers: [{ mediaType: MT.ociLayerGzip, digest: D('1'), size: -1 }] }), 'm'),
    /size is not a non-negative integer/,
  );
  assert.throws(() => parseManifest(Buffer.from('{'), 'm'), /not valid JSON/);
});

test('media type must agree with the content', () => {
  const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  assert.ok(isIndexDocument(j(index), MT.ociIndex, 'x'));
  assert.not.ok(isIndexDocument(j(manifest), MT.ociManifest, 'x'));
  assert.not.ok(isIndexDocument(j({ ...manifest, mediaType: undefined }), MT.dockerManifest, 'x'));
  assert.throws(() => isIndexDocument(j(index), MT.ociManifest, 'x'), /is an index but was served as/);
  assert.throws(() => isIndexDocument(j(manifest), MT.ociIndex, 'x'), /is an image manifest but was served as .*index/);
  assert.throws(() => isIndexDocument(j(manifest), 'application/json', 'x'), /unsupported media type/);
  assert.throws(
    () => isIndexDocument(j(manifest), MT.dockerManifest, 'x'),
    /says its mediaType is .*oci.* but was served as .*docker/,
  );
});

test('index entries and image configs', () => {
  const entries = parseIndex(
    j({
      schemaVersion: 2,
      manifests: [
        { mediaType: MT.ociManifest, digest: D('a'), size: 5, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
    'i',
  );
  assert.equal(entries, [
    { digest: D('a'), mediaType: MT.ociManifest, platform: { os: 'linux', architecture: 'arm64' } },
  ]);
  const cfg = parseImageConfig(
    j({
      architecture: 'arm',
      variant: 'v7',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [D('d')] },
    }),
    'c',
  );
  assert.equal(cfg, { architecture: 'arm', os: 'linux', variant: 'v7', diffIds: [D('d')], config: { Cmd: ['sh'] } });
  assert.throws(
    () => parseImageConfig(j({ architecture: 'arm', os: 'linux', rootfs: { type: 'layers' } }), 'c'),
    /rootfs must be/,
  );
});

test.run();
