import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Outbox } from '../../../agent/src/cloud/outbox/outbox.js';
import { withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir }>('outbox: kill -9 while enqueueing');
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'enqueue-child.ts');

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-outbox-crash-');
});
test.after(async (ctx) => {
  await ctx.dir?.cleanup();
});

/** Run the child until it has printed at least `atLeast` ids, then SIGKILL it; returns the printed ids. */
async function enqueueThenKill(file: string, atLeast: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.split('\n').length > atLeast + 2) resolve();
        });
        child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
      }),
      30_000,
      `child to print ${atLeast} ids`,
    );
  } finally {
    child.kill('SIGKILL');
    await withTimeout(exited, 5000, 'killed child to exit');
  }
  // Everything the child wrote before it died is in the pipe: read it to the end.
  const lines = out.split('\n');
  lines.pop(); // a partial last line is not a printed id
  return lines.filter((l) => l !== 'ready').map(Number);
}

test('every id whose enqueue resolved is there after kill -9, three times over', async ({ dir }) => {
  const file = path.join(dir.path, 'outbox.db');
  let maxBefore = 0;
  for (let round = 0; round < 3; round++) {
    const printed = await enqueueThenKill(file, 3000 + round * 1000);
    assert.ok(printed.length >= 3000, `round ${round}: only ${printed.length} ids`);
    assert.ok(Math.min(...printed) > maxBefore, `round ${round}: ids go on after the crash, never reused`);
    maxBefore = Math.max(...printed);

    const raw = new Database(file, { readonly: true });
    const rows = raw.prepare('SELECT id, stream, seq FROM messages ORDER BY id').all() as Array<{
      id: number;
      stream: string;
      seq: number;
    }>;
    raw.close();
    const stored = new Set(rows.map((r) => r.id));
    const missing = printed.filter((id) => !stored.has(id));
    assert.equal(missing.slice(0, 10), [], `round ${round}: ${missing.length} acknowledged ids lost`);
    const lastSeq = new Map<string, number>();
    for (const r of rows) {
      assert.is(r.seq, (lastSeq.get(r.stream) ?? 0) + 1, `stream ${r.stream}: seq without gaps in id order`);
      lastSeq.set(r.stream, r.seq);
    }
  }
  const box = Outbox.open(file, { capBytes: 1 << 30 });
  const s = box.stats();
  assert.is(s.queued.count, s.enqueued, 'the reopened outbox counts what it holds');
  assert.ok(s.queued.count >= 6000);
  box.close();
});

test.run();
