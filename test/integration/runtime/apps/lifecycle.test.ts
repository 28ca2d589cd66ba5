import { createReadStream, realpathSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { ContainerView } from '../../../../agent/src/runtime/service.js';
import { appsSuite, gantryOk, inspect, waitForApp } from '../../../helpers/apps.js';
import { type PtyPair, ptyPair } from '../../../helpers/pty.js';
import { withTimeout } from '../../../helpers/timeout.js';

const test = appsSuite('runtime: app lifecycle, logs, restarts, health, security', [
  'runc',
  'conmon',
  'busybox',
  'socat',
]);

test('run, ps, logs in order from stdout and stderr, exit code, rm', async ({ agent, image }) => {
  await gantryOk(
    agent,
    'run',
    '--name',
    'hello',
    image,
    'sh',
    '-c',
    'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three; exit 3',
  );
  const v = await waitForApp(agent, 'hello', (x) => x.lastExit !== undefined, 'exit');
  assert.is(v.lastExit?.code, 3);
  // conmon reads stdout and stderr from two pipes: their relative order holds only for lines written apart in time.
  const logs = await agent.gantry('logs', '--json', 'hello');
  const lines = logs.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { stream: string; text: string; time: string });
  assert.equal(
    lines.map((l) => `${l.stream}:${l.text}`),
    ['stdout:one', 'stderr:two', 'stdout:three'],
  );
  assert.ok(lines.every((l) => !Number.isNaN(Date.parse(l.time))));
  const human = await agent.gantry('logs', 'hello');
  assert.is(human.stdout, 'one\nthree\n');
  assert.is(human.stderr, 'two\n');
  const ps = JSON.parse(await gantryOk(agent, 'ps', '-a', '--json')) as ContainerView[];
  assert.ok(ps.some((a) => a.name === 'hello' && a.status === 'stopped'));
  await gantryOk(agent, 'rm', 'hello');
  assert.is((await agent.gantry('inspect', 'hello')).code, 1);
});

test('on-failure:2 restarts twice with backoff, then gives up', async ({ agent, image }) => {
  const t0 = Date.now();
  await gantryOk(agent, 'run', '--name', 'crash', '--restart', 'on-failure:2', image, 'sh', '-c', 'exit 7');
  const v = await waitForApp(agent, 'crash', (x) => x.restarts === 2 && x.status === 'stopped', 'two restarts', 30_000);
  assert.ok(Date.now() - t0 >= 3000, 'backoff of 1 s then 2 s');
  await new Promise((r) => setTimeout(r, 4500));
  const after = await inspect(agent, 'crash');
  assert.is(after.restarts, 2, 'no third restart');
  assert.is(after.lastExit?.code, 7);
  assert.is(v.events.filter((e) => e.type === 'restarting').length, 2);
});

test('a failing health check makes the app unhealthy, and it is restarted', async ({ agent, image }) => {
  await gantryOk(
    agent,
    'run',
    '--name',
    'sick',
    '--restart',
    'always',
    '--health-cmd',
    'test -f /tmp/ok',
    '--health-interval',
    '1',
    '--health-retries',
    '2',
    image,
    'sh',
    '-c',
    'touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 600',
  );
  await waitForApp(agent, 'sick', (x) => x.health === 'healthy', 'healthy', 15_000);
  const v = await waitForApp(agent, 'sick', (x) => x.restarts >= 1, 'restarted after unhealthy', 20_000);
  assert.ok(v.events.some((e) => e.type === 'unhealthy'));
});

test('stop, start, pause, resume', async ({ agent, image }) => {
  await gantryOk(agent, 'run', '--name', 'life', image, 'sleep', '600');
  await waitForApp(agent, 'life', (x) => x.status === 'running', 'running');
  await gantryOk(agent, 'pause', 'life');
  assert.is((await inspect(agent, 'life')).status, 'paused');
  await gantryOk(agent, 'resume', 'life');
  assert.is((await inspect(agent, 'life')).status, 'running');
  await gantryOk(agent, 'stop', '-t', '1', 'life');
  const stopped = await inspect(agent, 'life');
  assert.is(stopped.status, 'stopped');
  assert.is(stopped.desired, 'stopped');
  await gantryOk(agent, 'start', 'life');
  assert.is((await inspect(agent, 'life')).status, 'running');
  const refused = await agent.gantry('rm', 'life');
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /is running; stop it first or use --force/);
  await gantryOk(agent, 'rm', '-f', 'life');
});

test('security defaults inside the container', async ({ agent, image }) => {
  await gantryOk(
    agent,
    'run',
    '--name',
    'sec',
    '--read-only',
    image,
    'sh',
    '-c',
    'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; cat /proc/kcore | wc -c; touch /x 2>&1 || echo readonly-ok; ls /dev/mem 2>&1 || echo no-mem',
  );
  await waitForApp(agent, 'sec', (x) => x.lastExit !== undefined, 'exit');
  const out = (await agent.gantry('logs', 'sec')).stdout + (await agent.gantry('logs', 'sec')).stderr;
  assert.match(out, /CapEff:\s+00000000800405fb/);
  assert.match(out, /NoNewPrivs:\s+1/);
  assert.match(out, /Seccomp:\s+2/);
  assert.match(out, /^0$/m, '/proc/kcore is masked');
  assert.match(out, /readonly-ok|Read-only file system/);
  assert.match(out, /no-mem/);
});

test('a granted device works; others are not there', async ({ agent, image }) => {
  let pty: PtyPair | undefined;
  try {
    pty = await ptyPair();

    const dev = realpathSync(pty.a);
    // A pty lives under /dev/pts, the container's own devpts: give it a serial-port name inside.
    await gantryOk(
      agent,
      'run',
      '--name',
      'dev',
      '--device',
      `${dev}:/dev/ttyS7`,
      image,
      'sh',
      '-c',
      'echo hello-serial > /dev/ttyS7; ls /dev/sda /dev/ttyS0 2>&1 | head -2; sleep 1',
    );
    const got = await withTimeout(
      new Promise<string>((resolve) => {
        const s = createReadStream(realpathSync(pty?.b as string));
        s.on('data', (c) => {
          s.destroy();
          resolve(c.toString());
        });
      }),
      10_000,
      'bytes from the container on the other end of the pty',
    );
    assert.match(got, /hello-serial/);
    await waitForApp(agent, 'dev', (x) => x.lastExit !== undefined, 'exit');
    assert.match((await agent.gantry('logs', 'dev')).stdout, /No such file/);
  } finally {
    await pty?.stop();
  }
});

test.run();
