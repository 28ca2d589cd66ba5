/**
 * Deployments, measured in one run:
 *
 * 1. A revision that changes one app's image (both images already pulled),
 *    from the deploy request to applied-and-healthy, over N reps: the whole
 *    time, the apply (request until the health gate begins: stop, remove,
 *    create+start) and the health gate apart. The changed app has a health
 *    check (`true`, every 50 ms) so the gate passes on its first healthy
 *    probe instead of waiting out a stable window. Measured through the API
 *    stream that `gantry deploy` reads, and as `gantry deploy FILE` (the CLI
 *    process, node start-up included); side by side with `podman run -d` of
 *    the same image. Note gantry's apply also stops and removes the old
 *    container; podman's run starts a container and no more.
 * 2. The agent idle with the two-app demo (a busybox ticker and the Node.js
 *    app) deployed: VmRSS and utime+stime from /proc every few seconds;
 *    start/end/max RSS, mean CPU%, and whether RSS grew.
 *
 *   node --import tsx scripts/bench/deploy.ts [--reps 10] [--idle-seconds 60 | --idle-minutes 10] [--sample-seconds 5]
 *
 * Needs runc and conmon (scripts/setup-host); podman for its column (skipped without it).
 */
import { execFileSync } from 'node:child_process';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { RawJson } from '../../agent/src/api/client.js';
import type { DeployEvent } from '../../agent/src/deploy/service.js';
import type { DeploymentDocument } from '../../agent/src/deploy/types.js';
import { startAgent, type TestAgent } from '../../test/helpers/agent.js';
import { which } from '../../test/helpers/host-tools.js';
import { run } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { buildTestImages } from '../lib/build-test-images.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '60' },
    'idle-minutes': { type: 'string' },
    'sample-seconds': { type: 'string', default: '5' },
  },
});
const reps = Number(values.reps);
const idleMs = (values['idle-minutes'] ? Number(values['idle-minutes']) * 60 : Number(values['idle-seconds'])) * 1000;
const sampleMs = Number(values['sample-seconds']) * 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// PID 1 gets SIGTERM on stop: waiting on a background sleep lets the trap run at once.
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'];

const work = await tempDir('gantry-bench-deploy-');
const layout = path.join(work.path, 'layout');
const podman = which('podman');
const podmanLayout = `/tmp/gantry-bench-podman-${process.pid}`;
const podmanNames: string[] = [];
let agent: TestAgent | undefined;
let revision = 0;

/**
 * The two-app demo; the ticker's image alternates between busybox and layered, so each revision changes it.
 * `fastCheck`: a health check that passes at once, probed every 50 ms (for the timing; it costs CPU while idle).
 */
function demo(rev: number, images: { ticker: string; node: string }, fastCheck: boolean): DeploymentDocument {
  return {
    revision: rev,
    description: 'bench: the two-app demo',
    apps: {
      ticker: {
        image: images.ticker,
        command: IDLE,
        ...(fastCheck ? { healthCheck: { command: ['true'], intervalSec: 0.05 } } : {}),
        resources: { memoryMiB: 16, cpus: 0.1 },
      },
      'hello-node': { image: images.node, resources: { memoryMiB: 96, cpus: 0.5 }, dependsOn: ['ticker'] },
    },
    rollout: { healthyWithinSec: 30 },
  };
}

/** POST the document and read the event stream: request → health gate begins → result; and each step's time. */
async function deployTimed(
  a: TestAgent,
  doc: DeploymentDocument,
): Promise<{ total: number; apply: number; steps: Map<string, number> }> {
  const t0 = performance.now();
  let gateAt: number | undefined;
  const started = new Map<string, number>();
  const steps = new Map<string, number>();
  for await (const e of a.api.stream<DeployEvent>(
    'POST',
    '/v1/deployments?source=bench.json',
    new RawJson(JSON.stringify(doc)),
  )) {
    if (e.type === 'phase' && e.phase === 'health-gate') gateAt ??= performance.now();
    if (e.type === 'step') {
      const key = `${e.step.kind} ${e.step.kind === 'pull' ? e.step.image : e.step.container}`;
      if (e.state === 'started') started.set(key, performance.now());
      else steps.set(e.step.kind, (steps.get(e.step.kind) ?? 0) + performance.now() - (started.get(key) ?? t0));
    }
    if (e.type === 'result') {
      const end = performance.now();
      if (e.result.outcome !== 'applied')
        throw new Error(`revision ${doc.revision} ${e.result.outcome}: ${e.result.reasons.join('; ')}`);
      return { total: end - t0, apply: (gateAt ?? end) - t0, steps };
    }
  }
  throw new Error(`revision ${doc.revision}: the stream ended without a result`);
}

interface Sample {
  at: number;
  rssKiB: number;
  ticks: number;
}

async function sample(pid: number): Promise<Sample> {
  const [status, stat] = await Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
  ]);
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    at: performance.now(),
    rssKiB: Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

try {
  console.log('building busybox, layered and node-app into an OCI layout…');
  await buildTestImages(layout, ['busybox', 'layered', 'node-app']);
  const ref = (tag: string) => `oci:${layout}:${tag}`;
  agent = await startAgent({ dataDir: path.join(work.path, 'data'), extraArgs: ['--log-level', 'info'] });
  const a = agent;
  for (const tag of ['busybox', 'layered', 'node-app']) {
    const res = await a.gantry('pull', ref(tag));
    if (res.code !== 0) throw new Error(`gantry pull ${tag}: ${res.stderr}`);
  }
  // podman names an image pulled from a layout after its path, which must be lowercase: pull from a lowercase copy.
  const podmanImages = new Map<string, string>();
  if (podman) {
    await cp(layout, podmanLayout, { recursive: true });
    for (const tag of ['busybox', 'layered']) {
      const pulled = await run(podman, ['pull', '-q', `oci:${podmanLayout}:${tag}`], { timeoutMs: 120_000 });
      if (pulled.code !== 0) throw new Error(`podman pull ${tag}: ${pulled.stderr}`);
      podmanImages.set(tag, pulled.stdout.trim().split('\n').at(-1) ?? '');
    }
  }

  const tagOf = (rev: number) => (rev % 2 === 1 ? 'busybox' : 'layered');
  const docOf = (rev: number, fastCheck = true) =>
    demo(rev, { ticker: ref(tagOf(rev)), node: ref('node-app') }, fastCheck);
  // Revision 1 brings up both apps (not measured: hello-node is created only here).
  await deployTimed(a, docOf(++revision));

  const api = { total: [] as number[], apply: [] as number[] };
  const stepTimes = new Map<string, number[]>();
  const cli: number[] = [];
  const pod: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = await deployTimed(a, docOf(++revision));
    api.total.push(t.total);
    api.apply.push(t.apply);
    for (const [kind, took] of t.steps) stepTimes.set(kind, [...(stepTimes.get(kind) ?? []), took]);

    const doc = docOf(++revision);
    const file = path.join(work.path, `rev-${doc.revision}.json`);
    await writeFile(file, JSON.stringify(doc));
    const t0 = performance.now();
    const res = await a.gantry('deploy', file);
    cli.push(performance.now() - t0);
    if (res.code !== 0) throw new Error(`gantry deploy: ${res.stderr}`);

    if (podman) {
      const name = `gantry-bench-${process.pid}-${i}`;
      podmanNames.push(name);
      const args = ['run', '-d', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
      const t1 = performance.now();
      const pr = await run(
        podman,
        [...args, '--name', name, podmanImages.get(tagOf(doc.revision)) as string, ...IDLE],
        {
          timeoutMs: 60_000,
        },
      );
      pod.push(performance.now() - t1);
      if (pr.code !== 0) throw new Error(`podman run: ${pr.stderr}`);
      await run(podman, ['rm', '-f', '-t', '0', name], { timeoutMs: 60_000 });
    }
    console.log(
      `rep ${i + 1}: api ${ms(t.total)} (apply ${ms(t.apply)}), cli ${ms(cli[i] as number)}${podman ? `, podman run -d ${ms(pod[i] as number)}` : ''}`,
    );
  }

  const total = median(api.total);
  const apply = median(api.apply);
  console.log(`\nrevision changing one app's image (cached), median of ${reps}:`);
  console.log(`  request → applied and healthy: ${ms(total)}`);
  console.log(`    apply (request → health gate begins): ${ms(apply)}`);
  console.log(
    `      steps: ${[...stepTimes].map(([kind, xs]) => `${kind} ${ms(median(xs))}`).join(', ')}; the rest is planning and the API`,
  );
  console.log(`    health gate: ${ms(median(api.total.map((x, i) => x - (api.apply[i] as number))))}`);
  console.log(`  gantry deploy FILE (CLI process, node start-up included): ${ms(median(cli))}`);
  if (podman) {
    const p = median(pod);
    console.log(`  podman run -d: ${ms(p)}`);
    console.log(`  ratio apply/podman: ${(apply / p).toFixed(2)}x (goal < 1)`);
    console.log(`  ratio applied-and-healthy/podman: ${(total / p).toFixed(2)}x`);
    console.log(`  ratio gantry deploy CLI/podman: ${(median(cli) / p).toFixed(2)}x`);
  } else console.log('  podman not installed: its column is skipped');

  // Idle as the demo runs it: no 50 ms health probe (a revision without it; the gate waits its stable window).
  await deployTimed(a, docOf(++revision, false));
  const pid = a.peer.child.pid as number;
  console.log(`\nidle with the two-app demo deployed: ${idleMs / 1000} s, a sample every ${sampleMs / 1000} s…`);
  const samples: Sample[] = [await sample(pid)];
  while ((samples.at(-1) as Sample).at - (samples[0] as Sample).at < idleMs) {
    await sleep(sampleMs);
    samples.push(await sample(pid));
  }
  const first = samples[0] as Sample;
  const last = samples.at(-1) as Sample;
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const cpuPct = (x: Sample, y: Sample) => ((y.ticks - x.ticks) / CLK_TCK / ((y.at - x.at) / 1000)) * 100;
  const perInterval = samples.slice(1).map((s, i) => cpuPct(samples[i] as Sample, s));
  const maxRss = Math.max(...samples.map((s) => s.rssKiB));
  const minRss = Math.min(...samples.map((s) => s.rssKiB));
  // Growth from the low point: a GC right after the deploys lowers RSS first, and must not hide a climb after it.
  const grew = last.rssKiB - minRss;
  console.log(`  RSS start ${mib(first.rssKiB)}, end ${mib(last.rssKiB)}, max ${mib(maxRss)}, min ${mib(minRss)}`);
  console.log(
    `  CPU mean ${cpuPct(first, last).toFixed(2)}% (max over one interval ${Math.max(...perInterval).toFixed(2)}%, ${samples.length} samples)`,
  );
  console.log(
    grew > 1024
      ? `  RSS grew: ${mib(grew)} above its low point at the end of ${((last.at - first.at) / 1000).toFixed(0)} s`
      : `  RSS did not grow (end within 1 MiB of its low point; start to end ${mib(last.rssKiB - first.rssKiB)})`,
  );
} finally {
  if (agent) {
    // An empty revision stops and removes the apps.
    const empty = new RawJson(JSON.stringify({ revision: revision + 1, apps: {} }));
    try {
      for await (const _ of agent.api.stream('POST', '/v1/deployments?source=bench-cleanup.json', empty));
    } catch {
      // Removed by force below.
    }
    for (const app of await agent.api.get<Array<{ name: string }>>('/v1/apps?all=1').catch(() => []))
      await agent.api.request('DELETE', `/v1/apps/${app.name}?force=1`).catch(() => undefined);
    await agent.dispose();
  }
  if (podman)
    for (const name of podmanNames)
      await run(podman, ['rm', '-f', '-t', '0', name], { timeoutMs: 60_000 }).catch(() => undefined);
  await rm(podmanLayout, { recursive: true, force: true });
  await work.cleanup();
}
