/**
 * The telemetry path's figures, measured in one run:
 *
 *  1. durable enqueue rate: many producers doing small concurrent
 *     telemetry.publish calls (as eSDK apps do) through TelemetryPipeline into
 *     a real Outbox (SQLite, WAL, synchronous=FULL, group commit): samples/s
 *     with 1 sample per call and with 10 per call; goal >= 50k samples/s;
 *  2. drain rate: the Drainer publishing a full outbox to mosquitto on
 *     loopback with mqtt.js at QoS 1 (PUBACK -> delete), against an mqtt.js
 *     loop publishing the same messages directly at QoS 1 (same in-flight
 *     window, and unbounded), alternating --runs times; goal: the drain's
 *     median >= 50% of the faster direct median;
 *  3. bytes upstream for a temperature sensor at 10 Hz for one simulated hour,
 *     raw vs rules (deadband 0.2 + window 60 s + threshold).
 *
 *   node --import tsx scripts/bench/outbox.ts [--samples 200000] [--messages 50000] [--window 128] [--runs 3]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { Drainer, Outbox, type OutboxMessage, publishProperties } from '../../agent/src/cloud/outbox/index.js';
import type { TelemetryRule } from '../../agent/src/deploy/types.js';
import { TelemetryPipeline } from '../../agent/src/telemetry/pipeline.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '200000' },
    messages: { type: 'string', default: '50000' },
    window: { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
  },
});
const SAMPLES = Number(values.samples);
const MESSAGES = Number(values.messages);
const WINDOW = Number(values.window);
const RUNS = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const topicFor = (app: string, stream: string) => `gantry/v1/bench-dev/telemetry/${app}/${stream}`;
const rate = (n: number, ms: number) => Math.round((n * 1000) / ms);
const fmt = (n: number) => n.toLocaleString('en-US');

const work = await tempDir('gantry-bench-outbox-');
const broker = await startMosquitto();
try {
  // 1. Durable enqueue through the pipeline.
  for (const perCall of [1, 10]) {
    const box = Outbox.open(path.join(work.path, `enqueue-${perCall}.db`), { capBytes: 1 << 30 });
    const pipeline = new TelemetryPipeline({ outbox: box, topicFor, tickMs: 0 });
    const producers = 32;
    const inFlightPerProducer = 32;
    const callsPerProducer = Math.ceil(SAMPLES / perCall / producers);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: producers }, async (_, p) => {
        let next = 0;
        const lane = async () => {
          while (next < callsPerProducer) {
            const i = next++;
            const samples = Array.from({ length: perCall }, (_, k) => ({
              ts: Date.now(),
              value: 20 + ((i + k) % 100) / 10,
            }));
            await pipeline.publish(`app${p % 8}`, `stream${p}`, samples, {});
          }
        };
        await Promise.all(Array.from({ length: inFlightPerProducer }, lane));
      }),
    );
    const ms = performance.now() - t0;
    const s = box.stats();
    console.log(
      `enqueue, ${perCall} sample(s)/call: ${fmt(s.enqueued)} samples in ${ms.toFixed(0)} ms = ${fmt(rate(s.enqueued, ms))} samples/s ` +
        `(${fmt(s.enqueueCalls)} calls, ${fmt(s.commits)} commits, ${producers}x${inFlightPerProducer} concurrent; goal >= 50,000)`,
    );
    await pipeline.close();
    box.close();
  }

  // 2. Drain vs direct publish, same messages; alternating, RUNS times, medians compared.
  const connect = (clientId: string) =>
    mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId, reconnectPeriod: 0 });
  const publishWith = (client: mqtt.MqttClient) => (m: OutboxMessage) =>
    client
      .publishAsync(m.topic, Buffer.from(m.payload), { qos: 1, properties: publishProperties(m) })
      .then(() => undefined);

  const times = { directWindow: [] as number[], directAll: [] as number[], drain: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    const box = Outbox.open(path.join(work.path, `drain-${run}.db`), { capBytes: 1 << 30 });
    const pipeline = new TelemetryPipeline({ outbox: box, topicFor, tickMs: 0 });
    await Promise.all(
      Array.from({ length: MESSAGES }, (_, i) =>
        pipeline.publish(`app${i % 4}`, `s${i % 16}`, [{ ts: 1_700_000_000_000 + i, value: 20 + (i % 50) / 10 }], {}),
      ),
    );
    await pipeline.close();
    // The same messages (payload, topic, properties) for the direct runs.
    const copies: OutboxMessage[] = [];
    for (let batch = box.nextBatch(5000); batch.length > 0; batch = box.nextBatch(5000)) copies.push(...batch);
    box.release(copies.map((m) => m.id));

    const direct = async (window: number | undefined): Promise<number> => {
      const client = await connect(`bench-direct-${run}-${window ?? 'all'}`);
      const publish = publishWith(client);
      const t0 = performance.now();
      if (window === undefined) await Promise.all(copies.map(publish));
      else {
        let next = 0;
        const lane = async () => {
          while (next < copies.length) await publish(copies[next++] as OutboxMessage);
        };
        await Promise.all(Array.from({ length: window }, lane));
      }
      const ms = performance.now() - t0;
      await client.endAsync();
      return ms;
    };
    times.directWindow.push(await direct(WINDOW));
    times.directAll.push(await direct(undefined));

    const client = await connect(`bench-drainer-${run}`);
    const drainer = new Drainer(box, publishWith(client), { window: WINDOW });
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (box.stats().queued.count === 0) {
          clearInterval(poll);
          resolve();
        }
      }, 2);
      drainer.setOnline(true);
    });
    times.drain.push(performance.now() - t0);
    await drainer.stop();
    await client.endAsync();
    box.close();
    console.log(
      `  run ${run + 1}: direct ${WINDOW} in flight ${fmt(rate(MESSAGES, times.directWindow[run] ?? 0))} msg/s, ` +
        `direct all at once ${fmt(rate(MESSAGES, times.directAll[run] ?? 0))} msg/s, drain ${fmt(rate(MESSAGES, times.drain[run] ?? 0))} msg/s`,
    );
  }
  const directWindowMs = median(times.directWindow);
  const directAllMs = median(times.directAll);
  const drainMs = median(times.drain);
  const best = Math.min(directWindowMs, directAllMs);
  console.log(`medians of ${RUNS} runs, ${fmt(MESSAGES)} messages each:`);
  console.log(`  direct mqtt.js QoS 1, ${WINDOW} in flight: ${fmt(rate(MESSAGES, directWindowMs))} msg/s`);
  console.log(`  direct mqtt.js QoS 1, all at once:   ${fmt(rate(MESSAGES, directAllMs))} msg/s`);
  console.log(
    `  outbox drain, window ${WINDOW}:         ${fmt(rate(MESSAGES, drainMs))} msg/s (read, publish, PUBACK, delete) ` +
      `= ${((best / drainMs) * 100).toFixed(0)}% of the faster direct one (goal >= 50%)`,
  );

  // 3. Bytes upstream for a realistic sensor trace.
  const trace = temperatureTrace();
  const hot = trace.filter((s, i) => s.value > 24.5 && (trace[i - 1]?.value ?? 0) <= 24.5).length;
  console.log(
    `sensor trace: ${fmt(trace.length)} samples (10 Hz, 1 h), ${hot} upward crossings of 24.5 in the raw signal`,
  );
  const ruleSets: Array<[string, TelemetryRule | undefined]> = [
    ['raw (no rule)', undefined],
    ['deadband 0.2', { deadband: 0.2 }],
    ['window 60 s', { windowSec: 60 }],
    [
      'deadband 0.2 + window 60 s + threshold 24.5',
      { deadband: 0.2, windowSec: 60, thresholds: [{ above: 24.5, name: 'hot' }] },
    ],
  ];
  let rawBytes = 0;
  for (const [name, rule] of ruleSets) {
    const sizes = { messages: 0, bytes: 0, alerts: 0 };
    let now = trace[0]?.ts ?? 0;
    const counter = {
      enqueue: (msgs: Array<{ payload: Uint8Array; topic: string; priority: number }>) => {
        for (const m of msgs) {
          sizes.messages++;
          sizes.bytes += m.payload.byteLength + m.topic.length;
          if (m.priority === 9) sizes.alerts++;
        }
        return Promise.resolve();
      },
    };
    const p = new TelemetryPipeline({ outbox: counter, topicFor, clock: () => now, tickMs: 0 });
    if (rule) p.setRules('hvac', { temp: rule });
    for (const s of trace) {
      now = s.ts;
      await p.publish('hvac', 'temp', [s], {});
      if (s.ts % 1000 === 0) p.tick(now);
    }
    await p.close();
    if (!rule) rawBytes = sizes.bytes;
    console.log(
      `  ${name.padEnd(44)} ${fmt(sizes.messages).padStart(7)} messages (${sizes.alerts} alerts) ${fmt(sizes.bytes).padStart(10)} bytes ` +
        `= ${((sizes.bytes / rawBytes) * 100).toFixed(2)}% of raw`,
    );
  }
} finally {
  await broker.stop();
  await work.cleanup();
}

/** 22 °C drifting ±2.5 °C over the hour with a slow random walk and up to ±0.15 °C sensor noise, rounded to 0.01. */
function temperatureTrace(): Array<{ ts: number; value: number }> {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const out: Array<{ ts: number; value: number }> = [];
  const start = 1_700_000_000_000;
  let walk = 0;
  for (let i = 0; i < 36_000; i++) {
    walk += (random() - 0.5) * 0.002;
    const drift = 2.5 * Math.sin((2 * Math.PI * i) / 36_000);
    const noise = (random() + random() + random() - 1.5) * 0.1;
    out.push({ ts: start + i * 100, value: Math.round((22 + drift + walk + noise) * 100) / 100 });
  }
  return out;
}
