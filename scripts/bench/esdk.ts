/**
 * eSDK speed, in one run:
 *   - round trip of `app.info` over the app's unix socket, one SDK client, sequential calls: p50, p99;
 *   - telemetry.publish throughput (samples/s) into a sink, 1 client and 5 clients, each keeping
 *     64 publishes in flight; and batched (100 samples per publish) from 1 client.
 * The server runs in this process (as in the agent); each client is a child process (as an app in
 * its container would be), so both sides have their own event loop.
 *
 *   node --import tsx scripts/bench/esdk.ts [--calls 20000] [--publishes 100000]
 *
 * The sink is in memory and resolves at once, unless ESDK_BENCH_SINK names a module whose
 * `createSink(dir)` returns a TelemetrySink (e.g. the durable queue), given a scratch directory.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { TelemetrySink } from '../../agent/src/esdk/backends.js';
import { EsdkServer } from '../../agent/src/esdk/server.js';
import { connect } from '../../sdk/src/index.js';
import { fakeBackends, meterReader } from '../../test/helpers/fake-devices.js';
import { tempDir } from '../../test/helpers/tmp.js';

const GOAL_P50_US = 100;

type Job =
  | { kind: 'rtt'; sock: string; calls: number }
  | { kind: 'publish'; sock: string; publishes: number; window: number; batch: number };
type JobResult = { kind: 'rtt'; micros: number[] } | { kind: 'publish'; samples: number; ms: number };

if (process.argv[2] === '--client') {
  process.once('message', (job: Job) => {
    runClient(job).then(
      (r) => process.send?.(r, () => process.exit(0)),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}

async function runClient(job: Job): Promise<JobResult> {
  const g = await connect({ path: job.sock, clientName: 'bench/1', reconnect: false });
  try {
    if (job.kind === 'rtt') {
      for (let i = 0; i < 2_000; i++) await g.info(); // warm up
      const micros: number[] = [];
      for (let i = 0; i < job.calls; i++) {
        const t0 = process.hrtime.bigint();
        await g.info();
        micros.push(Number(process.hrtime.bigint() - t0) / 1_000);
      }
      return { kind: 'rtt', micros };
    }
    const samples = Array.from({ length: job.batch }, (_, i) => ({ value: i * 0.5 }));
    const publish = (i: number) =>
      job.batch === 1 ? g.telemetry.publish('bench', i * 0.5) : g.telemetry.publishSamples('bench', samples);
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < job.publishes) await publish(next++);
    };
    await Promise.all(Array.from({ length: job.window }, worker));
    return { kind: 'publish', samples: job.publishes * job.batch, ms: performance.now() - t0 };
  } finally {
    await g.close();
  }
}

function runChild(job: Job): Promise<JobResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--client'], { execArgv: ['--import', 'tsx'] });
    child.once('message', (m) => resolve(m as JobResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bench client exited with ${code}`));
    });
    child.send(job);
  });
}

async function loadSink(dir: string): Promise<{ sink: TelemetrySink; name: string; received?: () => number }> {
  const modulePath = process.env.ESDK_BENCH_SINK;
  if (!modulePath) {
    let count = 0;
    return {
      name: 'in-memory (resolves at once)',
      sink: {
        async publish(_app, _stream, s) {
          count += s.length;
        },
      },
      received: () => count,
    };
  }
  const mod = (await import(pathToFileURL(path.resolve(modulePath)).href)) as {
    createSink(dir: string): Promise<TelemetrySink> | TelemetrySink;
  };
  return { name: modulePath, sink: await mod.createSink(dir) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { calls: { type: 'string', default: '20000' }, publishes: { type: 'string', default: '100000' } },
  });
  const calls = Number(values.calls);
  const publishes = Number(values.publishes);
  const work = await tempDir('gantry-bench-esdk-');
  const backends = fakeBackends();
  const { sink, name, received } = await loadSink(path.join(work.path, 'sink'));
  backends.telemetry = sink as typeof backends.telemetry;
  const server = new EsdkServer(backends, { socketPath: (app) => path.join(work.path, 'apps', app, 'esdk.sock') });
  try {
    await server.open(meterReader());
    const sock = path.join(work.path, 'apps', 'meter-reader', 'esdk.sock');

    const rtt = (await runChild({ kind: 'rtt', sock, calls })) as Extract<JobResult, { kind: 'rtt' }>;
    const sorted = rtt.micros.sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
    console.log(
      `app.info round trip over the socket, ${calls} sequential calls (SDK client in a child process): ` +
        `p50 ${pct(0.5).toFixed(1)} µs, p99 ${pct(0.99).toFixed(1)} µs, max ${pct(1).toFixed(0)} µs ` +
        `(goal p50 < ${GOAL_P50_US} µs: ${pct(0.5) < GOAL_P50_US ? 'met' : 'NOT met'})`,
    );

    console.log(`telemetry.publish into sink: ${name}`);
    for (const clients of [1, 5]) {
      const each = Math.floor(publishes / clients);
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: clients }, () =>
          runChild({ kind: 'publish', sock, publishes: each, window: 64, batch: 1 }),
        ),
      );
      // Wall time from the first start to the last finish, but the children's own timers exclude process start.
      const ms = Math.max(...results.map((r) => (r as { ms: number }).ms));
      const samples = results.reduce((n, r) => n + (r as { samples: number }).samples, 0);
      console.log(
        `  ${clients} client${clients > 1 ? 's' : ' '}, 1 sample per publish, 64 in flight each: ` +
          `${Math.round(samples / (ms / 1000)).toLocaleString('en-US')} samples/s ` +
          `(${samples} in ${ms.toFixed(0)} ms; ${(performance.now() - t0).toFixed(0)} ms with process start)`,
      );
    }
    const batched = (await runChild({
      kind: 'publish',
      sock,
      publishes: Math.max(1, Math.floor(publishes / 100)),
      window: 16,
      batch: 100,
    })) as { samples: number; ms: number };
    console.log(
      `  1 client, 100 samples per publish, 16 in flight: ` +
        `${Math.round(batched.samples / (batched.ms / 1000)).toLocaleString('en-US')} samples/s`,
    );
    if (received) console.log(`  the sink received ${received()} samples in all`);
  } finally {
    await server.closeAll();
    await work.cleanup();
  }
}
