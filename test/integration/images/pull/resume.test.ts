import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import type { ImageSummary } from '../../../../agent/src/images/ports.js';
import { OciLayoutWriter } from '../../../../scripts/lib/oci-layout.js';
import { pushToRegistry } from '../../../../scripts/lib/registry-push.js';
import { GANTRY_BIN, startAgent } from '../../../helpers/agent.js';
import { startCuttingProxy } from '../../../helpers/cutting-proxy.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { insecureRegistryConfig } from '../../../helpers/images.js';
import { spawnPeer } from '../../../helpers/processes.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { waitFor } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

interface Ctx {
  registry: Registry;
  dir: TempDir;
  layerDigest: string;
  layerSize: number;
  manifestDigest: string;
}
const { test } = hostSuite<Ctx>('images: pulls resume after cut connections and kill -9', ['docker-registry']);

const SIZE = 4 * 1024 * 1024;

test.before(async (ctx) => {
  ctx.registry = await startRegistry();
  ctx.dir = await tempDir('gantry-resume-');
  // Random bytes do not compress: the blob is as big as the file, so cuts land mid-body.
  const layout = new OciLayoutWriter(path.join(ctx.dir.path, 'layout'));
  await layout.init();
  const desc = await layout.writeImage({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [
      [
        { type: 'dir', path: 'data' },
        { type: 'file', path: 'data/random.bin', content: randomBytes(SIZE) },
      ],
    ],
    config: { Cmd: ['/bin/true'] },
    gzipLevel: 1,
  });
  await pushToRegistry(layout.dir, ctx.registry.url, 'gantry-test/big', 'latest', desc);
  const manifest = JSON.parse(await readFile(path.join(layout.dir, 'blobs/sha256', desc.digest.slice(7)), 'utf8'));
  ctx.layerDigest = manifest.layers[0].digest;
  ctx.layerSize = manifest.layers[0].size;
  ctx.manifestDigest = desc.digest;
});
test.after(async (ctx) => {
  await ctx.registry?.stop();
  await ctx.dir?.cleanup();
});

test('a connection cut twice mid-blob resumes with Range and fetches each byte once', async ({
  registry,
  dir,
  layerDigest,
  layerSize,
}) => {
  const upstreamPort = Number(registry.host.split(':')[1]);
  const proxy = await startCuttingProxy(upstreamPort, [
    { pathIncludes: `/blobs/${layerDigest}`, cutAfter: [1_000_000, 1_500_000] },
  ]);
  const config = await insecureRegistryConfig(dir.path, { ...registry, host: proxy.host, url: proxy.url });
  const agent = await startAgent({ config });
  try {
    const res = await agent.gantry('pull', '--json', `${proxy.host}/gantry-test/big:latest`);
    assert.is(res.code, 0, res.stdout + res.stderr);
    const done = JSON.parse(res.stdout.trim().split('\n').at(-1) as string) as { image: ImageSummary };
    assert.is(done.image.downloaded, layerSize, 'every byte downloaded exactly once');
    const blobGets = proxy.log.filter((l) => l.path.includes(`/blobs/${layerDigest}`));
    // Bytes in flight when the proxy cut are lost, so each resume starts at or before the cut.
    const offsets = blobGets.map((l) => (l.range ? Number(/^bytes=(\d+)-$/.exec(l.range)?.[1]) : 0));
    assert.is(offsets.length, 3);
    assert.ok(offsets[0] === 0 && (offsets[1] ?? 0) > 0 && (offsets[1] ?? 0) <= 1_000_000, `offsets ${offsets}`);
    assert.ok(
      (offsets[2] ?? 0) > (offsets[1] ?? 0) && (offsets[2] ?? 0) <= (offsets[1] ?? 0) + 1_500_000,
      `offsets ${offsets}`,
    );
    assert.equal(
      blobGets.map((l) => l.status),
      [200, 206, 206],
    );
  } finally {
    await agent.dispose();
    await proxy.stop();
  }
});

test('kill -9 mid-pull: the next agent resumes from the partial blob', async ({
  registry,
  dir,
  layerDigest,
  layerSize,
  manifestDigest,
}) => {
  const dataDir = path.join(dir.path, 'killed');
  // 512 KiB/s: the 4 MiB layer takes ~8 s, long enough to kill the agent in the middle.
  const slow = await insecureRegistryConfig(dir.path, registry, { pull: { bandwidthBytesPerSec: 512 * 1024 } });
  const first = await startAgent({ config: slow, dataDir });
  const partial = path.join(dataDir, 'images', 'ingest', layerDigest.slice(7));
  const cli = spawnPeer(process.execPath, [
    GANTRY_BIN,
    'pull',
    `${registry.host}/gantry-test/big:latest`,
    '--data-dir',
    dataDir,
  ]);
  try {
    await waitFor(async () => ((await stat(partial).catch(() => undefined))?.size ?? 0) >= 1024 * 1024 || undefined, {
      ms: 20_000,
      what: '1 MiB of the layer in the ingest area',
    });
    first.peer.child.kill('SIGKILL');
    await first.peer.exited;
    assert.not.equal(await cli.exited, 0, 'the CLI reports the lost agent');
  } finally {
    await cli.stop();
  }
  const kept = (await stat(partial)).size;
  assert.ok(kept >= 1024 * 1024 && kept < layerSize, `partial of ${kept} bytes kept`);

  const fast = await insecureRegistryConfig(dir.path, registry);
  const second = await startAgent({ config: fast, dataDir });
  try {
    const res = await second.gantry('pull', '--json', `${registry.host}/gantry-test/big:latest`);
    assert.is(res.code, 0, res.stdout + res.stderr);
    const done = JSON.parse(res.stdout.trim().split('\n').at(-1) as string) as { image: ImageSummary };
    assert.is(done.image.digest, manifestDigest);
    assert.is(done.image.resumed, kept, 'everything the killed agent had written is reused');
    assert.is((done.image.resumed ?? 0) + (done.image.downloaded ?? 0), layerSize);
    assert.is((await stat(path.join(dataDir, 'images', 'blobs', 'sha256', layerDigest.slice(7)))).size, layerSize);
  } finally {
    await second.dispose();
  }
});

test.run();
