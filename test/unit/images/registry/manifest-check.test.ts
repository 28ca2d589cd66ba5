import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { MT } from '../../../../agent/src/images/media-types.js';
import { checkManifestContent, mediaTypeOf } from '../../../../agent/src/images/registry/manifest-check.js';

const test = suite('manifest media type and body consistency');

const D = `sha256:${'a'.repeat(64)}`;
const manifest = (extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: MT.ociConfig, digest: D, size: 1 },
      layers: [{ mediaType: MT.ociLayerGzip, digest: D, size: 1 }],
      ...extra,
    }),
  );
const index = (extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: D, size: 1 }], ...extra }),
  );

function refused(bytes: Buffer, contentType: string | undefined, why: string): void {
  try {
    checkManifestContent(bytes, contentType, 'manifest r/x:1');
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match((e as Error).message, 'manifest r/x:1');
    assert.match((e as Error).message, why);
    return;
  }
  assert.unreachable(`accepted as ${contentType}`);
}

test('mediaTypeOf drops parameters and case', () => {
  assert.is(mediaTypeOf('Application/VND.oci.image.manifest.v1+json; charset=utf-8'), MT.ociManifest);
  assert.is(mediaTypeOf(undefined), '');
});

test('the four types we pull, named by Content-Type, with or without the body field', () => {
  assert.is(checkManifestContent(manifest(), MT.ociManifest, 'm'), MT.ociManifest);
  assert.is(checkManifestContent(manifest({ mediaType: MT.ociManifest }), MT.ociManifest, 'm'), MT.ociManifest);
  assert.is(
    checkManifestContent(manifest({ mediaType: MT.dockerManifest }), MT.dockerManifest, 'm'),
    MT.dockerManifest,
  );
  assert.is(checkManifestContent(index(), `${MT.ociIndex}; charset=utf-8`, 'm'), MT.ociIndex);
  assert.is(
    checkManifestContent(index({ mediaType: MT.dockerManifestList }), MT.dockerManifestList, 'm'),
    MT.dockerManifestList,
  );
});

test('a generic or missing Content-Type defers to the body mediaType', () => {
  assert.is(checkManifestContent(index({ mediaType: MT.ociIndex }), 'application/json', 'm'), MT.ociIndex);
  assert.is(checkManifestContent(manifest({ mediaType: MT.ociManifest }), undefined, 'm'), MT.ociManifest);
  refused(manifest(), 'application/json', 'neither Content-Type nor the document');
  refused(manifest({ mediaType: 'application/vnd.example+json' }), undefined, 'unsupported media type');
});

test('the header and the body field disagree', () => {
  refused(manifest({ mediaType: MT.dockerManifest }), MT.ociManifest, `but the document's mediaType is`);
  refused(index({ mediaType: MT.ociIndex }), MT.dockerManifestList, `but the document's mediaType is`);
});

test('the body shape contradicts the type (the confusion attack)', () => {
  refused(index(), MT.ociManifest, 'without a config descriptor');
  refused(manifest({ manifests: [] }), MT.ociManifest, 'has manifests');
  refused(manifest(), MT.ociIndex, 'without a manifests array');
  refused(index({ layers: [] }), MT.ociIndex, 'has config or layers');
  refused(manifest({ layers: 'nope' }), MT.ociManifest, 'without a layers array');
  refused(manifest({ config: [] }), MT.ociManifest, 'without a config descriptor');
});

test('unknown types, schema 1, and non-objects', () => {
  refused(manifest(), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'unsupported media type');
  refused(manifest(), 'text/html', 'unsupported media type');
  refused(manifest({ schemaVersion: 1 }), MT.ociManifest, 'schemaVersion is 1');
  refused(Buffer.from(JSON.stringify({ config: {}, layers: [] })), MT.ociManifest, 'schemaVersion is undefined');
  refused(manifest({ mediaType: 42 }), MT.ociManifest, 'mediaType field is not a string');
  refused(Buffer.from('[1,2]'), MT.ociManifest, 'is not a JSON object');
  refused(Buffer.from('null'), MT.ociManifest, 'is not a JSON object');
  refused(Buffer.from('{"schemaVersion":2,'), MT.ociManifest, 'is not valid JSON');
});

test.run();
