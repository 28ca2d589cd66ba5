/**
 * Cold pull + unpack of a multi-layer image (~50 MB: the node-app test image)
 * from a loopback docker-registry: gantry vs `skopeo copy` to an OCI layout +
 * `umoci unpack`, measured in the same run, alternating, fresh stores each time.
 *
 *   node --import tsx scripts/bench/pull.ts [--runs 3]
 *
 * Prints each time, the medians, the ratio gantry/peer (goal <= 1.0) and the
 * agent's peak RSS (VmHWM) over its life, which a pull dominates.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent } from '../../test/helpers/agent.js';
import { buildAndPush, insecureRegistryConfig } from '../../test/helpers/images.js';
import { run } from '../../test/helpers/processes.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { tempDir } from '../../test/helpers/tmp.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const registry = await startRegistry();
const work = await tempDir('gantry-bench-pull-');
try {
  const { 'node-app': image } = await buildAndPush(registry, path.join(work.path, 'src'), ['node-app']);
  if (!image) throw new Error('node-app image was not built');
  const ref = image.ref;
  const manifest = JSON.parse(
    await readFile(path.join(work.path, 'src/blobs/sha256', image.digest.slice(7)), 'utf8'),
  ) as {
    layers: Array<{ size: number }>;
  };
  const compressed = manifest.layers.reduce((n, l) => n + l.size, 0);
  console.log(`image ${ref}: ${manifest.layers.length} layers, ${(compressed / 1048576).toFixed(1)} MiB compressed`);
  const config = await insecureRegistryConfig(work.path, registry);

  const gantry: number[] = [];
  const peer: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const agent = await startAgent({ config, dataDir: path.join(work.path, `gantry-${i}`) });
    try {
      const t0 = performance.now();
      const res = await agent.gantry('pull', ref);
      gantry.push(performance.now() - t0);
      if (res.code !== 0) throw new Error(`gantry pull failed: ${res.stderr}`);
      const status = await readFile(`/proc/${agent.peer.child.pid}/status`, 'utf8');
      rss.push(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
    } finally {
      await agent.dispose();
      await rm(path.join(work.path, `gantry-${i}`), { recursive: true, force: true });
    }

    const layout = path.join(work.path, `skopeo-${i}`);
    const t1 = performance.now();
    const copy = await run(
      'skopeo',
      ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:bench`],
      { timeoutMs: 600_000 },
    );
    if (copy.code !== 0) throw new Error(`skopeo copy failed: ${copy.stderr}`);
    const unpack = await run('umoci', ['unpack', '--image', `${layout}:bench`, `${layout}-bundle`], {
      timeoutMs: 600_000,
    });
    if (unpack.code !== 0) throw new Error(`umoci unpack failed: ${unpack.stderr}`);
    peer.push(performance.now() - t1);
    await rm(layout, { recursive: true, force: true });
    await rm(`${layout}-bundle`, { recursive: true, force: true });
    console.log(`run ${i + 1}: gantry ${gantry[i]?.toFixed(0)} ms, skopeo+umoci ${peer[i]?.toFixed(0)} ms`);
  }
  const g = median(gantry);
  const p = median(peer);
  console.log(`median: gantry pull ${g.toFixed(0)} ms, skopeo copy + umoci unpack ${p.toFixed(0)} ms`);
  console.log(`ratio gantry/peer: ${(g / p).toFixed(2)}x (goal <= 1.0)`);
  console.log(`agent peak RSS (VmHWM): ${median(rss).toFixed(1)} MiB`);
} finally {
  await registry.stop();
  await work.cleanup();
}
