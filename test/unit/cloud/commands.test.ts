import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type CommandResult, CommandRunner } from '../../../agent/src/cloud/commands.js';
import { encodePayload } from '../../../agent/src/cloud/payload.js';
import { notFound } from '../../../agent/src/errors.js';

const test = suite('cloud: commands');

function setup(handlers: ConstructorParameters<typeof CommandRunner>[0]['handlers']) {
  const results: Array<[string, CommandResult]> = [];
  let offline = false;
  const runner = new CommandRunner({
    handlers,
    publishResult: async (id, result) => {
      if (offline) throw new Error('offline');
      results.push([id, result]);
    },
  });
  return { runner, results, setOffline: (v: boolean) => (offline = v) };
}

const cmd = (name: unknown, extra: Record<string, unknown> = {}) => encodePayload({ name, ...extra });

test('a known command runs with its args and answers ok with its result', async () => {
  const seen: unknown[] = [];
  const { runner, results } = setup({
    'restart-app': async (args) => {
      seen.push(args);
      return { restarted: (args as { app: string }).app };
    },
  });
  await runner.handle('c1', cmd('restart-app', { args: { app: 'meter' } }));
  assert.equal(seen, [{ app: 'meter' }]);
  assert.equal(results, [['c1', { ok: true, result: { restarted: 'meter' } }]]);
});

test('an unknown command is an error result naming the known ones', async () => {
  const { runner, results } = setup({ diagnostics: () => 'ok' });
  await runner.handle('c2', cmd('format-disk'));
  const [, r] = results[0] ?? [];
  assert.equal(r?.ok, false);
  if (r && !r.ok) {
    assert.is(r.error.code, 'unknown-command');
    assert.match(r.error.message, /format-disk.*diagnostics/);
  }
});

test('a prototype name is not a command', async () => {
  const { runner, results } = setup({});
  await runner.handle('c3', cmd('toString'));
  assert.equal(results[0]?.[1].ok, false);
});

test('malformed requests are answered, not dropped', async () => {
  const { runner, results } = setup({ x: () => 1 });
  await runner.handle('m1', Buffer.from([0xff]));
  await runner.handle('m2', encodePayload([1, 2]));
  await runner.handle('m3', cmd('x', { timeoutSec: -1 }));
  assert.equal(
    results.map(([id, r]) => [id, r.ok ? 'ok' : r.error.code]),
    [
      ['m1', 'invalid-request'],
      ['m2', 'invalid-request'],
      ['m3', 'invalid-request'],
    ],
  );
});

test('a handler error keeps its kind as the code; a plain error is "failed"', async () => {
  const { runner, results } = setup({
    'logs-tail': () => {
      throw notFound('app nope is not deployed');
    },
    boom: () => {
      throw new Error('disk on fire');
    },
  });
  await runner.handle('e1', cmd('logs-tail', { args: { app: 'nope' } }));
  await runner.handle('e2', cmd('boom'));
  assert.equal(results, [
    ['e1', { ok: false, error: { code: 'not-found', message: 'app nope is not deployed' } }],
    ['e2', { ok: false, error: { code: 'failed', message: 'disk on fire' } }],
  ]);
});

test('a command past its timeout is answered with a timeout error and its signal is aborted', async () => {
  let signal: AbortSignal | undefined;
  const { runner, results } = setup({
    hang: (_args, ctx) => {
      signal = ctx.signal;
      return new Promise(() => {});
    },
  });
  await runner.handle('t1', cmd('hang', { timeoutSec: 0.05 }));
  assert.equal(results[0]?.[1], {
    ok: false,
    error: { code: 'timeout', message: 'command hang did not finish within 0.05 s' },
  });
  assert.ok(signal?.aborted);
});

test('an id is executed at most once; a redelivery re-sends the first result', async () => {
  let runs = 0;
  const { runner, results } = setup({ count: () => ++runs });
  await runner.handle('d1', cmd('count'));
  await runner.handle('d1', cmd('count'));
  assert.is(runs, 1);
  assert.equal(results, [
    ['d1', { ok: true, result: 1 }],
    ['d1', { ok: true, result: 1 }],
  ]);
});

test('a redelivery while the first is still running does nothing', async () => {
  let runs = 0;
  let release!: () => void;
  const { runner, results } = setup({
    slow: () =>
      new Promise((r) => {
        runs++;
        release = () => r('done');
      }),
  });
  const first = runner.handle('s1', cmd('slow'));
  await new Promise((r) => setImmediate(r));
  await runner.handle('s1', cmd('slow'));
  assert.is(results.length, 0);
  release();
  await first;
  assert.is(runs, 1);
  assert.is(results.length, 1);
});

test('results that could not be published are sent by flushPending', async () => {
  const { runner, results, setOffline } = setup({ ping: () => 'pong' });
  setOffline(true);
  await runner.handle('p1', cmd('ping'));
  assert.is(results.length, 0);
  setOffline(false);
  await runner.flushPending();
  assert.equal(results, [['p1', { ok: true, result: 'pong' }]]);
  await runner.flushPending();
  assert.is(results.length, 1);
});

test.run();
