/**
 * Toggle a digital output on each rising edge of a digital input (a push
 * button lighting a lamp). Needs grants like
 *   { "device": "di-1", "access": "r",  "mode": "broker" }
 *   { "device": "do-1", "access": "rw", "mode": "broker" }
 *
 * The watch survives an agent restart: the SDK reconnects and watches again.
 * In your app, import from '@gantry/sdk' instead of '../src/index.js'.
 */
import { pathToFileURL } from 'node:url';
import { connect, type GantryClient } from '../src/index.js';

/** Toggle do-1 on each press of di-1, `presses` times (forever if omitted); returns the levels written. */
export async function run(g: GantryClient, opts: { presses?: number } = {}): Promise<Array<0 | 1>> {
  let lamp: 0 | 1 = await g.gpio.read('do-1');
  const written: Array<0 | 1> = [];
  const presses = await g.gpio.watch('di-1', { edge: 'rising', debounceMs: 20 });
  for await (const _press of presses) {
    lamp = lamp ? 0 : 1;
    await g.gpio.write('do-1', lamp);
    written.push(lamp);
    if (opts.presses !== undefined && written.length >= opts.presses) break; // break closes the watch
  }
  return written;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const g = await connect({ clientName: 'di-toggles-do/1.0' });
  await run(g);
}
