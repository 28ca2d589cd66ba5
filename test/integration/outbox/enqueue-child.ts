/**
 * Child process for the kill -9 test: enqueues forever, like several apps
 * publishing at once, and prints the id of every message whose enqueue
 * resolved (one write per resolved call; pipe writes are synchronous on Linux,
 * so a printed id is in the parent's pipe before the next enqueue).
 *
 *   node --import tsx enqueue-child.ts OUTBOX_FILE
 */
import { Outbox } from '../../../agent/src/cloud/outbox/outbox.js';

const file = process.argv[2];
if (!file) throw new Error('usage: enqueue-child.ts OUTBOX_FILE');
const box = Outbox.open(file, { capBytes: 1 << 30 });
let n = 0;

function burst(): void {
  for (let i = 0; i < 20; i++) {
    const stream = `s${n % 3}`;
    const payload = Buffer.from(`payload-${n++}`);
    void box.enqueue([{ topic: `t/${stream}`, stream, priority: 3, payload }]).then((ids) => {
      process.stdout.write(`${ids.join('\n')}\n`);
    });
  }
  setImmediate(burst);
}
process.stdout.write('ready\n');
burst();
