/**
 * Publish a sensor as a telemetry stream, at an interval taken from the app's
 * config (`{"intervalMs": 5000}`), following config changes on redeploy.
 * The agent's telemetry rules for the stream (deadband, windows, thresholds)
 * decide what actually goes to the cloud. Needs the sensor in the
 * deployment's `sensors` list.
 *
 * In your app, import from '@gantry/sdk' instead of '../src/index.js'.
 */
import { pathToFileURL } from 'node:url';
import { connect, type EventStream, type GantryClient, type SensorReading } from '../src/index.js';

interface Config {
  intervalMs?: number;
  sensor?: string;
}

/** Publish readings until `count` are out (forever if omitted); resubscribes when the config changes. */
export async function run(g: GantryClient, opts: { count?: number } = {}): Promise<number> {
  const configs = await g.config.watch<Config>();
  let published = 0;
  let readings: EventStream<SensorReading> | undefined;
  const pump = async (stream: EventStream<SensorReading>) => {
    for await (const r of stream) {
      await g.telemetry.publish(r.sensor, r.value, { ts: r.ts });
      if (opts.count !== undefined && ++published >= opts.count) break;
    }
  };
  // The first config event is the current config; each later one is a redeploy.
  for await (const { config } of configs) {
    await readings?.close();
    readings = await g.sensors.subscribe(config?.sensor ?? 'cpu-temp', { intervalMs: config?.intervalMs ?? 5_000 });
    if (opts.count !== undefined) {
      await pump(readings);
      break;
    }
    pump(readings).catch((e: unknown) => console.error('publishing failed:', e));
  }
  await configs.close();
  return published;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const g = await connect({ clientName: 'publish-sensor/1.0' });
  await run(g);
}
