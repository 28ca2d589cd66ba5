/**
 * Build the project's test images from files on this host, deterministically
 * (sorted entries, fixed mtimes: the same host files give the same digests).
 *
 *   node --import tsx scripts/build-image.ts --layout DIR [--push http://127.0.0.1:PORT] [IMAGE...]
 *
 * IMAGE is any of busybox, layered, multiarch, node-app (default: all). Each is
 * tagged with its name in the layout; with --push it is also pushed to
 * REGISTRY/gantry-test/IMAGE:latest.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildTestImages, TEST_IMAGES, type TestImageName } from './lib/build-test-images.js';
import { pushToRegistry } from './lib/registry-push.js';

const { values, positionals } = parseArgs({
  options: { layout: { type: 'string' }, push: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  allowPositionals: true,
});
if (values.help || !values.layout) {
  process.stderr.write(
    'usage: build-image.ts --layout DIR [--push REGISTRY_URL] [busybox|layered|multiarch|node-app ...]\n',
  );
  process.exit(values.help ? 0 : 2);
}
const unknown = positionals.filter((p) => !(TEST_IMAGES as readonly string[]).includes(p));
if (unknown.length > 0) {
  process.stderr.write(`build-image: unknown image ${unknown.join(', ')}; known: ${TEST_IMAGES.join(', ')}\n`);
  process.exit(2);
}
const names = (positionals.length > 0 ? positionals : [...TEST_IMAGES]) as TestImageName[];
const layoutDir = path.resolve(values.layout);
const built = await buildTestImages(layoutDir, names);
for (const [name, desc] of Object.entries(built)) {
  process.stdout.write(`${name}\t${desc.digest}\t${desc.mediaType}\toci:${layoutDir}:${name}\n`);
  if (values.push) {
    await pushToRegistry(layoutDir, values.push, `gantry-test/${name}`, 'latest', desc);
    process.stdout.write(`${name}\tpushed to ${values.push}/gantry-test/${name}:latest\n`);
  }
}
