import path from 'node:path';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ContainerRecords } from '../../../agent/src/runtime/container-records.js';
import { Supervisor, type Timers } from '../../../agent/src/runtime/supervisor.js';
import type { AppSpec, ContainerRuntime, ExitInfo } from '../../../agent/src/runtime/types.js';
import { type Db, openDatabase } from '../../../agent/src/state/database.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

/** A behavioural fake: containers "exit" when the test says, exec answers what the test set. */
class FakeRuntime implements Partial<ContainerRuntime> {
  waiters = new Map<string, (e: ExitInfo) => void>();
  probeExit = 0;
  killed: string[] = [];
  waitExit(id: string, signal?: AbortSignal): Promise<ExitInfo> {
    return new Promise((resolve, reject) => {
      this.waiters.set(id, resolve);
      signal?.addEventListener('abort', () => reject(new Error('aborted')));
    });
  }
  /** The container exits; resolves once the supervisor has seen it. */
  async exit(id: string, exitCode: number, oomKilled = false): Promise<void> {
    this.waiters.get(id)?.({ exitCode, oomKilled, finishedAt: new Date().toISOString() + Math.random() });
    await new Promise((r) => setImmediate(r));
  }
  async state(id: string) {
    return { id, status: 'running' as const, pid: 1 };
  }
  async exec() {
    return { exitCode: this.probeExit, output: '', timedOut: false };
  }
  async kill(id: string) {
    this.killed.push(id);
    await this.exit(id, 137);
  }
}

/** Timers that fire only when the test advances them. */
class FakeTimers implements Timers {
  now = 0;
  private queue: Array<{ at: number; fn: () => void; id: number }> = [];
  private next = 1;
  setTimeout(fn: () => void, ms: number) {
    const id = this.next++;
    this.queue.push({ at: this.now + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.queue = this.queue.filter((t) => t.id !== h);
  }
  async advance(ms: number) {
    const until = this.now + ms;
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at);
      const t = this.queue[0];
      if (!t || t.at > until) break;
      this.queue.shift();
      this.now = t.at;
      t.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.now = until;
  }
}

interface Ctx {
  dir: TempDir;
  db: Db;
  records: ContainerRecords;
  runtime: FakeRuntime;
  timers: FakeTimers;
  relaunched: string[];
  sup: Supervisor;
}
const test = suite<Ctx>('runtime: supervisor (fake runtime, fake clock, real SQLite)');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir();
  ctx.db = openDatabase(path.join(ctx.dir.path, 'state.db'));
  ctx.records = new ContainerRecords(ctx.db);
  ctx.runtime = new FakeRuntime();
  ctx.timers = new FakeTimers();
  ctx.relaunched = [];
  ctx.sup = new Supervisor({
    runtime: ctx.runtime as unknown as ContainerRuntime,
    records: ctx.records,
    relaunch: async (name) => {
      ctx.relaunched.push(name);
      ctx.sup.watch(ctx.records.get(name)?.spec as AppSpec);
    },
    log: pino({ level: 'silent' }),
    timers: ctx.timers,
    now: () => ctx.timers.now,
  });
});
test.after.each(async (ctx) => {
  ctx.sup.close();
  ctx.db.close();
  await ctx.dir.cleanup();
});

function add(records: ContainerRecords, spec: AppSpec) {
  records.insert({
    name: spec.name,
    spec,
    resources: { memoryMiB: 64, cpus: 0.5, pids: 64 },
    imageRef: 'i',
    imageDigest: 'd',
    desired: 'running',
  });
}

test('on-failure restarts with doubling backoff up to maxRetries', async ({
  records,
  runtime,
  timers,
  relaunched,
  sup,
}) => {
  const spec: AppSpec = { name: 'app', image: 'i', restart: { policy: 'on-failure', maxRetries: 2 } };
  add(records, spec);
  sup.watch(spec);
  await runtime.exit('app', 1);
  await timers.advance(999);
  assert.equal(relaunched, []);
  await timers.advance(1);
  assert.equal(relaunched, ['app']);
  await runtime.exit('app', 1);
  await timers.advance(1999);
  assert.equal(relaunched, ['app']);
  await timers.advance(1);
  assert.equal(relaunched, ['app', 'app']);
  await runtime.exit('app', 1);
  await timers.advance(600_000);
  assert.equal(relaunched, ['app', 'app'], 'gives up after 2');
  const rec = records.get('app');
  assert.is(rec?.lastExit?.code, 1);
  assert.is(records.events('app').filter((e) => e.type === 'restarting').length, 2);
});

test('an OOM kill is recorded and counted', async ({ records, runtime, sup, timers }) => {
  add(records, { name: 'hog', image: 'i' });
  sup.watch({ name: 'hog', image: 'i' });
  await runtime.exit('hog', 137, true);
  await timers.advance(1);
  assert.is(records.get('hog')?.oomKills, 1);
  assert.ok(records.events('hog').some((e) => e.type === 'oom-killed'));
});

test('a stopped app is not restarted', async ({ records, runtime, sup, timers, relaunched }) => {
  const spec: AppSpec = { name: 's', image: 'i', restart: { policy: 'always' } };
  add(records, spec);
  sup.watch(spec);
  records.setDesired('s', 'stopped');
  await runtime.exit('s', 0);
  await timers.advance(600_000);
  assert.equal(relaunched, []);
});

test('health: starting -> healthy -> unhealthy after retries -> killed and restarted', async ({
  records,
  runtime,
  sup,
  timers,
  relaunched,
}) => {
  const spec: AppSpec = {
    name: 'h',
    image: 'i',
    restart: { policy: 'always' },
    healthCheck: { command: ['true'], intervalSec: 1, retries: 2 },
  };
  add(records, spec);
  sup.watch(spec);
  assert.is(records.get('h')?.health, 'starting');
  await timers.advance(1000);
  assert.is(records.get('h')?.health, 'healthy');
  runtime.probeExit = 1;
  await timers.advance(1000);
  assert.is(records.get('h')?.health, 'healthy', 'one failure is not enough');
  await timers.advance(1000);
  assert.ok(records.events('h').some((e) => e.type === 'unhealthy'));
  assert.equal(runtime.killed, ['h']);
  assert.is(records.get('h')?.health, 'starting', 'the killed container starts over');
  await timers.advance(1000);
  assert.equal(relaunched, ['h']);
});

test.run();
