import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../agent/src/errors.js';
import {
  compatiblePlatforms,
  type IndexEntry,
  parsePlatform,
  selectPlatform,
} from '../../../agent/src/images/platform-select.js';

const test = suite('platform selection');
const entry = (architecture: string, variant?: string, os = 'linux'): IndexEntry => ({
  digest: `sha256:${architecture}${variant ?? ''}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  platform: { os, architecture, ...(variant ? { variant } : {}) },
});

test('parsePlatform normalises aliases and default variants', () => {
  assert.equal(parsePlatform('linux/armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.equal(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.throws(() => parsePlatform('arm64'), /os\/arch/);
  assert.throws(() => parsePlatform('windows/amd64'), /only linux/);
});

test('fallback chains', () => {
  const names = (p: ReturnType<typeof compatiblePlatforms>) =>
    p.map((x) => `${x.architecture}${x.variant ? `/${x.variant}` : ''}`);
  assert.equal(names(compatiblePlatforms(parsePlatform('linux/arm64'))), [
    'arm64/v8',
    'arm/v8',
    'arm/v7',
    'arm/v6',
    'arm/v5',
  ]);
  assert.equal(names(compatiblePlatforms(parsePlatform('linux/arm/v7'))), ['arm/v7', 'arm/v6', 'arm/v5']);
  assert.equal(names(compatiblePlatforms(parsePlatform('linux/arm/v6'))), ['arm/v6', 'arm/v5']);
  assert.equal(names(compatiblePlatforms(parsePlatform('linux/amd64'))), ['amd64']);
});

test('the best compatible entry wins; the index order breaks ties', () => {
  const idx = [entry('amd64'), entry('arm', 'v6'), entry('arm', 'v7'), entry('arm64')];
  assert.is(selectPlatform(idx, parsePlatform('linux/arm/v7'), 'x').digest, 'sha256:armv7');
  assert.is(selectPlatform(idx, parsePlatform('linux/arm64'), 'x').digest, 'sha256:arm64');
  assert.is(
    selectPlatform([entry('arm', 'v6'), entry('arm', 'v5')], parsePlatform('linux/arm64'), 'x').digest,
    'sha256:armv6',
  );
  assert.is(
    selectPlatform([entry('arm')], parsePlatform('linux/arm/v7'), 'x').digest,
    'sha256:arm',
    'arm without variant is v7',
  );
  assert.is(
    selectPlatform([entry('arm64', undefined, 'windows'), entry('arm64')], parsePlatform('linux/arm64'), 'x').digest,
    'sha256:arm64',
  );
});

test('no fit: the error lists what the image offers', () => {
  const idx = [entry('amd64'), entry('arm64'), entry('unknown', undefined, 'unknown')];
  try {
    selectPlatform(idx, parsePlatform('linux/arm/v7'), 'reg/app:1');
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'not-found'));
    assert.is((e as Error).message, 'reg/app:1 has no image for linux/arm/v7; it offers linux/amd64, linux/arm64');
  }
});

test.run();
