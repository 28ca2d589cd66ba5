/**
 * The agent's real telemetry path for benchmarks: the rules pipeline in
 * front of the SQLite outbox (group commit, synchronous=FULL), in `dir`.
 *
 *   ESDK_BENCH_SINK=scripts/bench/lib/durable-sink.ts node --import tsx scripts/bench/esdk.ts
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Outbox } from '../../../agent/src/cloud/outbox/index.js';
import type { TelemetrySink } from '../../../agent/src/esdk/backends.js';
import { TelemetryPipeline } from '../../../agent/src/telemetry/pipeline.js';

export async function createSink(dir: string): Promise<TelemetrySink> {
  await mkdir(dir, { recursive: true });
  const outbox = await Outbox.open(path.join(dir, 'outbox.db'), { capBytes: 1024 * 1024 * 1024 });
  return new TelemetryPipeline({ outbox, topicFor: (app, stream) => `gantry/v1/bench/telemetry/${app}/${stream}` });
}
