import { access, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AgentInfo } from '../../../agent/src/api/routes.js';
import { REPO_ROOT, runGantry, startAgent } from '../../helpers/agent.js';
import { run } from '../../helpers/processes.js';
import { waitFor } from '../../helpers/timeout.js';
import { tempDataDir } from '../../helpers/tmp.js';

const test = suite('agent: start, info, lock, shutdown');

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

test('gantry info --json answers with what the agent is', async () => {
  const agent = await startAgent();
  try {
    const res = await agent.gantry('info', '--json');
    assert.is(res.code, 0, res.stderr);
    const info = JSON.parse(res.stdout) as AgentInfo;
    assert.match(info.deviceId, /^gw-[0-9a-f]{12}$/);
    assert.is(info.profile.model, 'generic-x86_64');
    assert.is(info.dataDir, agent.dataDir);
    assert.is(info.platform, 'linux/amd64');
    assert.ok(['v1', 'v2', 'hybrid'].includes(info.cgroup.version), info.cgroup.version);
    assert.is(info.pid, agent.peer.child.pid);
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'agent/package.json'), 'utf8')) as { version: string };
    assert.is(info.version, pkg.version);

    const human = await agent.gantry('info');
    assert.is(human.code, 0);
    assert.match(human.stdout, /Device:\s+gw-/);
    assert.match(human.stdout, /Profile:\s+generic-x86_64/);

    const sock = await stat(agent.socketPath);
    assert.ok(sock.isSocket());
    assert.is(sock.mode & 0o777, 0o600, 'API socket is 0600');
    const curl = await run('curl', ['-s', '--unix-socket', agent.socketPath, 'http://gantry/v1/health']).catch(
      () => undefined,
    );
    if (curl) assert.is(JSON.parse(curl.stdout).status, 'ok', 'curl --unix-socket works');
  } finally {
    await agent.dispose();
  }
});

test('a second agent on the same data dir is refused; SIGTERM removes the socket', async () => {
  const agent = await startAgent();
  try {
    const second = await runGantry(['agent', '--data-dir', agent.dataDir], { timeoutMs: 15_000 });
    assert.is(second.code, 1);
    assert.match(second.stderr, new RegExp(`in use by another gantry agent \\(pid ${agent.peer.child.pid}\\)`));
    assert.ok(await exists(agent.socketPath), 'the refused agent left the first one alone');
    assert.is((await agent.gantry('info', '--json')).code, 0);
  } finally {
    const code = await agent.stop();
    assert.is(code, 0, 'clean exit on SIGTERM');
    assert.not.ok(await exists(agent.socketPath), 'socket removed');
    assert.not.ok(await exists(path.join(agent.dataDir, 'agent.pid')), 'pid file removed');
    await agent.dispose();
  }
});

test('after kill -9 a new agent takes over the data dir and keeps the device id', async () => {
  const first = await startAgent();
  const { deviceId } = await first.api.get<AgentInfo>('/v1/info');
  first.peer.child.kill('SIGKILL');
  await first.peer.exited;
  assert.ok(await exists(first.socketPath), 'the killed agent left its socket behind');
  const second = await startAgent({ dataDir: first.dataDir });
  try {
    const info = await second.api.get<AgentInfo>('/v1/info');
    assert.is(info.deviceId, deviceId);
    assert.is(info.pid, second.peer.child.pid);
  } finally {
    await second.stop();
    await first.dispose();
  }
});

test('a malformed request gets 400 and the agent lives on', async () => {
  const agent = await startAgent();
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(agent.socketPath);
      let got = '';
      sock.on('data', (c) => {
        got += c.toString();
      });
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
      sock.end('GET http://[/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.is((await agent.gantry('info', '--json')).code, 0);
  } finally {
    await agent.dispose();
  }
});

test('no agent running: a clear message and exit code 3', async () => {
  const dir = await tempDataDir();
  try {
    const res = await runGantry(['info', '--data-dir', dir.path]);
    assert.is(res.code, 3);
    assert.match(res.stderr, /no gantry agent is running on .*gantry\.sock/);
    const viaEnv = await runGantry(['info', '--json'], { env: { GANTRY_DATA_DIR: dir.path } });
    assert.is(viaEnv.code, 3);
    assert.is(JSON.parse(viaEnv.stdout).error.kind, 'unavailable');
  } finally {
    await dir.cleanup();
  }
});

test('the agent refuses to start on an invalid profile, naming the problem', async () => {
  const dir = await tempDataDir();
  try {
    const bad = path.join(dir.path, 'bad-profile.json');
    const good = JSON.parse(await readFile(path.join(REPO_ROOT, 'firmware-profiles/ec-iot-arm.json'), 'utf8'));
    good.appBudget.pids = 'many';
    await writeFile(bad, JSON.stringify(good, null, 2));
    const res = await runGantry(['agent', '--data-dir', path.join(dir.path, 'data'), '--profile', bad], {
      timeoutMs: 15_000,
    });
    assert.is(res.code, 1);
    assert.match(res.stderr, /bad-profile\.json:\d+:\d+: \/appBudget\/pids: must be integer/);
    assert.not.ok(await exists(path.join(dir.path, 'data', 'gantry.sock')));
    const unknown = await runGantry(['agent', '--data-dir', path.join(dir.path, 'data'), '--profile', 'no-such-model']);
    assert.is(unknown.code, 1);
    assert.match(unknown.stderr, /firmware profile "no-such-model" not found/);
  } finally {
    await dir.cleanup();
  }
});

test('an agent config file picks the profile and device id; a bad one is refused', async () => {
  const dir = await tempDataDir();
  try {
    const config = path.join(dir.path, 'agent.json');
    await writeFile(config, JSON.stringify({ deviceId: 'site-7-gw', profile: 'raspberrypi-4', logLevel: 'warn' }));
    const agent = await startAgent({ config, dataDir: path.join(dir.path, 'data') });
    try {
      const info = await agent.api.get<AgentInfo>('/v1/info');
      assert.is(info.deviceId, 'site-7-gw');
      assert.is(info.profile.model, 'raspberrypi-4');
    } finally {
      await agent.stop();
    }
    await writeFile(config, '{\n  "deviceId": "x",\n  "brokerUrl": 5\n}\n');
    const res = await runGantry(['agent', '--data-dir', path.join(dir.path, 'data'), '--config', config]);
    assert.is(res.code, 1);
    assert.match(res.stderr, /agent\.json:3:3: \/brokerUrl: is not a known property/);
  } finally {
    await dir.cleanup();
  }
});

test('usage errors exit 2 with help', async () => {
  const unknown = await runGantry(['frobnicate']);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const badFlag = await runGantry(['info', '--colour']);
  assert.is(badFlag.code, 2);
  assert.match(badFlag.stderr, /Unknown option '--colour'/);
  const help = await runGantry(['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /profile validate FILE\.\.\./);
});

test('concurrent agents racing for one data dir: exactly one wins', async () => {
  const dir = await tempDataDir();
  try {
    const a = startAgent({ dataDir: dir.path }).then(
      (agent) => ({ agent }),
      (error: unknown) => ({ error }),
    );
    const b = startAgent({ dataDir: dir.path }).then(
      (agent) => ({ agent }),
      (error: unknown) => ({ error }),
    );
    const results = await Promise.all([a, b]);
    const winners = results.flatMap((r) => ('agent' in r ? [r.agent] : []));
    assert.is(winners.length, 1, 'one agent runs');
    for (const w of winners) await w.stop();
    await waitFor(async () => ((await exists(path.join(dir.path, 'gantry.sock'))) ? undefined : true), {
      ms: 5000,
      what: 'socket gone',
    });
  } finally {
    await dir.cleanup();
  }
});

test.run();
