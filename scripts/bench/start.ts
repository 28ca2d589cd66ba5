/**
 * Deploy-to-running for a cached busybox image, in one run, alternating:
 *   - gantry: `POST /v1/apps` until the API answers (the container is running),
 *   - podman: `podman run -d --network none` of the same image (from an OCI layout),
 *   - runc alone: `runc run -d` of a prepared bundle (the floor).
 * Then the agent's RSS with 5 idle containers, and each conmon's RSS.
 *
 *   node --import tsx scripts/bench/start.ts [--reps 20]
 *
 * Needs podman (apt-get install podman) for the podman column; without it that column is skipped.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent } from '../../test/helpers/agent.js';
import { which } from '../../test/helpers/host-tools.js';
import { run } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { buildTestImages } from '../lib/build-test-images.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '20' } } });
const reps = Number(values.reps);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const rssMiB = async (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const work = await tempDir('gantry-bench-start-');
const layout = path.join(work.path, 'layout');
await buildTestImages(layout, ['busybox']);
const agent = await startAgent({ dataDir: path.join(work.path, 'data') });
const podman = which('podman');
try {
  const image = `oci:${layout}:busybox`;
  if ((await agent.gantry('pull', image)).code !== 0) throw new Error('pull failed');
  // A bundle for bare runc: the same rootfs as gantry's first container, copied once.
  const bundle = path.join(work.path, 'bundle');
  // podman names an image pulled from a layout after its path, which must be lowercase: pull a lowercase copy, run it by ID.
  const podmanLayout = `/tmp/gantry-bench-podman-${process.pid}`;
  let podmanImage = '';
  if (podman) {
    await cp(layout, podmanLayout, { recursive: true });
    const pulled = await run(podman, ['pull', '-q', `oci:${podmanLayout}:busybox`], { timeoutMs: 120_000 });
    if (pulled.code !== 0) throw new Error(`podman pull: ${pulled.stderr}`);
    podmanImage = pulled.stdout.trim().split('\n').at(-1) ?? '';
  }

  const g: number[] = [];
  const p: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await agent.api.post('/v1/apps', {
      name: `bench-${i}`,
      image,
      command: ['sleep', '600'],
      resources: { memoryMiB: 16, cpus: 0.1, pids: 16 },
    });
    g.push(performance.now() - t0);
    if (i === 0) {
      await cp(path.join(agent.dataDir, 'containers', 'bench-0', 'bundle', 'rootfs'), path.join(bundle, 'rootfs'), {
        recursive: true,
      });
      const spec = JSON.parse(
        await readFile(path.join(agent.dataDir, 'containers', 'bench-0', 'bundle', 'config.json'), 'utf8'),
      );
      spec.root.path = 'rootfs';
      spec.linux.cgroupsPath = '/gantry-bench/runc';
      spec.mounts = spec.mounts.filter(
        (m: { destination: string }) =>
          !['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/run/gantry'].includes(m.destination),
      );
      await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
    }
    if (podman) {
      const t1 = performance.now();
      const res = await run(
        podman,
        [
          'run',
          '-d',
          '--network',
          'none',
          '--ulimit',
          'nofile=1024:1024',
          '--ulimit',
          'nproc=1024:1024',
          '--name',
          `gantry-bench-${process.pid}-${i}`,
          podmanImage,
          'sleep',
          '600',
        ],
        { timeoutMs: 60_000 },
      );
      if (res.code !== 0) throw new Error(`podman run: ${res.stderr}`);
      p.push(performance.now() - t1);
    }
    const t2 = performance.now();
    const res = await run(
      'runc',
      ['--root', path.join(work.path, 'runc'), 'run', '-d', '--bundle', bundle, `bench-runc-${i}`],
      {
        timeoutMs: 60_000, // The detached container inherits runc's stdio: a pipe here would never close.
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    if (res.code !== 0) throw new Error(`runc run: ${res.stderr}`);
    r.push(performance.now() - t2);
    await run('runc', ['--root', path.join(work.path, 'runc'), 'delete', '-f', `bench-runc-${i}`]);
    if (podman) await run(podman, ['rm', '-f', '-t', '0', `gantry-bench-${process.pid}-${i}`], { timeoutMs: 60_000 });
    if (i >= 5) await agent.api.request('DELETE', `/v1/apps/bench-${i}?force=1`);
  }
  console.log(
    `deploy-to-running, median of ${reps}: gantry ${median(g).toFixed(0)} ms, runc alone ${median(r).toFixed(0)} ms${p.length ? `, podman ${median(p).toFixed(0)} ms` : ' (podman not installed: skipped)'}`,
  );
  console.log(`ratio gantry/runc: ${(median(g) / median(r)).toFixed(2)}x (goal <= 2)`);
  if (p.length) console.log(`ratio gantry/podman: ${(median(g) / median(p)).toFixed(2)}x (goal < 1)`);
  const apps = (await agent.api.get<Array<{ name: string; pid: number }>>('/v1/apps')).filter((a) =>
    a.name.startsWith('bench-'),
  );
  console.log(
    `agent RSS with ${apps.length} idle containers: ${(await rssMiB(agent.peer.child.pid as number)).toFixed(1)} MiB`,
  );
  const conmons = (await run('pgrep', ['-f', `conmon.*${agent.dataDir}`])).stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);
  const rss = await Promise.all(conmons.map(rssMiB));
  console.log(`conmon RSS: ${rss.map((x) => x.toFixed(1)).join(', ')} MiB`);
} finally {
  for (const a of await agent.api.get<Array<{ name: string }>>('/v1/apps?all=1').catch(() => []))
    await agent.api.request('DELETE', `/v1/apps/${a.name}?force=1`).catch(() => undefined);
  await agent.dispose();
  await work.cleanup();
  await rm(`/tmp/gantry-bench-podman-${process.pid}`, { recursive: true, force: true });
}
