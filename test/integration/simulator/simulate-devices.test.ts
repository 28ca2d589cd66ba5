/**
 * scripts/simulate-devices.ts as a developer runs it: a child process on a
 * temp dir, real socat pty pairs with the Modbus responder, the fake sysfs
 * tree, the agent's eSDK server; an app on the SDK (the modbus-read example's
 * own `run`) talks to it over the socket; commands go in on stdin, telemetry
 * comes out on stdout; it stops cleanly and leaves no socat behind.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { run as modbusRead, parseRegisters, readHoldingRegisters } from '../../../sdk/examples/modbus-read.js';
import { connect, DeniedError, type GantryClient } from '../../../sdk/src/index.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Peer, spawnPeer } from '../../helpers/processes.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = path.join(REPO, 'scripts', 'simulate-devices.ts');

interface Sim {
  peer: Peer;
  /** stdout lines so far. */
  lines(): string[];
  send(line: string): void;
  /** Resolves with the first stdout line matching, waiting up to `ms`. */
  line(pattern: RegExp, ms?: number): Promise<string>;
  socket: string;
}

function spawnSim(args: string[], env: NodeJS.ProcessEnv = process.env): Peer {
  return spawnPeer(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    cwd: REPO,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

async function startSim(args: string[]): Promise<Sim> {
  const peer = spawnSim(args);
  let out = '';
  peer.child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const lines = () => out.split('\n');
  const line = (pattern: RegExp, ms = 5_000) =>
    waitFor(() => lines().find((l) => pattern.test(l)), { ms, what: `a simulator line like ${pattern}` }).catch(
      (e: unknown) => {
        throw new Error(`${(e as Error).message}; output so far:\n${peer.output()}`);
      },
    );
  try {
    // tsx compiles the agent on first start: allow for a slow, cold machine.
    const ready = await line(/^ready GANTRY_ESDK_SOCKET=/, 30_000);
    return {
      peer,
      lines,
      line,
      send: (l) => peer.child.stdin?.write(`${l}\n`),
      socket: ready.slice('ready GANTRY_ESDK_SOCKET='.length),
    };
  } catch (e) {
    await peer.stop();
    throw e;
  }
}

/** The socat pids the banner lists. */
const socatPids = (lines: string[]) =>
  lines.flatMap((l) => {
    const m = /socat pid (\d+)/.exec(l);
    return m ? [Number(m[1])] : [];
  });

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface Ctx {
  dir: TempDir;
  sim?: Sim;
  g?: GantryClient;
}
const { test } = hostSuite<Ctx>('simulator: scripts/simulate-devices.ts', ['socat'], {} as Ctx);

test.before.each(async (c) => {
  c.dir = await tempDir('gantry-simtest-');
  c.sim = undefined;
  c.g = undefined;
});

test.after.each(async (c) => {
  await c.g?.close();
  await c.sim?.peer.stop();
  await c.dir.cleanup();
});

test('an SDK app reads the scripted register, a drifting sensor and a DI edge; quit cleans up', async (c) => {
  const script = path.join(c.dir.path, 'responder.json');
  await writeFile(script, JSON.stringify({ slaves: { 1: { registers: { 0: 4321 } } } }));
  const dir = path.join(c.dir.path, 'sim');
  const sim = await startSim(['--dir', dir, '--script', script, '--drift-ms', '50']);
  c.sim = sim;
  assert.is(sim.socket, path.join(dir, 'esdk.sock'));
  assert.ok(sim.lines().includes(`  GANTRY_ESDK_SOCKET=${sim.socket} node your-app.js`), 'says how to run an app');
  const pids = socatPids(sim.lines());
  assert.is(pids.length, 3, 'one socat per serial port of ec-iot-arm');
  assert.ok(pids.every(alive));

  const g = await connect({ path: sim.socket, reconnect: false, clientName: 'simulator-test/1' });
  c.g = g;
  const info = await g.info();
  assert.is(info.app, 'sim-app');
  assert.ok(info.devices.some((d) => d.device === 'rs485-1' && d.access === 'rw' && d.mode === 'broker'));

  // The example app's own loop: transact on rs485-1, publish what it read.
  assert.equal(await withTimeout(modbusRead(g, { times: 2 }), 10_000, 'modbus-read run'), [4321, 4321]);
  // Both samples the app published, as the sink printed them (stdout may trail the acknowledgement a little).
  await waitFor(
    () => (sim.lines().filter((l) => l === 'telemetry sim-app meter1.register0 4321').length === 2 ? true : undefined),
    { ms: 5_000, what: 'two telemetry lines' },
  );
  // The default formula still answers registers the script does not list.
  const reply = await g.serial.transact('rs485-1', readHoldingRegisters(1, 12, 1), {
    timeoutMs: 1_000,
    framing: { kind: 'interbyte', gapMs: 4 },
  });
  assert.equal(parseRegisters(1, reply), [1012]);

  // A plausible board temperature that moves while an app watches it.
  const first = await g.sensors.read('board-temp');
  assert.is(first.unit, '°C');
  assert.ok(first.value > 39 && first.value < 45, `plausible: ${first.value}`);
  const readings = await g.sensors.subscribe('board-temp', { intervalMs: 50 });
  const values = new Set<number>();
  await withTimeout(
    (async () => {
      for await (const r of readings) {
        values.add(r.value);
        if (values.size >= 3) break;
      }
    })(),
    5_000,
    'three different board-temp readings',
  );
  sim.send('temp board-temp 55.5');
  await sim.line(/^sensor board-temp held at 55\.5/);
  assert.is((await g.sensors.read('board-temp')).value, 55.5);

  // A DI edge set on stdin reaches the app's watch.
  const edges = await g.gpio.watch('di-1', { edge: 'rising', debounceMs: 0 });
  // The eSDK answers gpio.watch before the line is armed (it does not wait for the GpioWatch's
  // `ready`), so an edge right after the answer can be taken for the starting level. The sysfs
  // backend writes "both" to the line's edge file once it watches: wait for that, as a person at
  // the keyboard would by being slower.
  const edgeFile = path.join(dir, 'sys', 'class', 'gpio', 'gpio0', 'edge');
  await waitFor(async () => ((await readFile(edgeFile, 'utf8')).trim() === 'both' ? true : undefined), {
    ms: 5_000,
    what: 'di-1 armed',
  });
  sim.send('di di-1 1');
  const edge = await withTimeout(edges.next(), 5_000, 'the di-1 edge').catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${sim.peer.output()}`);
  });
  assert.is(edge.done, false);
  assert.equal(edge.done ? undefined : { line: edge.value.line, value: edge.value.value, edge: edge.value.edge }, {
    line: 'di-1',
    value: 1,
    edge: 'rising',
  });
  await edges.close();
  assert.is(await g.gpio.read('di-1'), 1);

  // What the app drives shows up on stdout; a bad command is an error line, not the end.
  await g.gpio.write('do-1', 1);
  await sim.line(/^gpio do-1 1 \(set by the app\)$/);
  sim.send('di do-1 1');
  await sim.line(/^error: do-1 is an output line/);

  await g.close();
  c.g = undefined;
  sim.send('quit');
  assert.is(await withTimeout(sim.peer.exited, 10_000, 'the simulator to exit on quit'), 0);
  assert.ok(sim.lines().includes('stopped'));
  assert.equal(pids.filter(alive), [], 'no socat left behind');
  assert.not.ok(await exists(sim.socket), 'the socket is removed');
  assert.ok(await exists(path.join(dir, 'sys')), 'a --dir given is left in place');
});

test('a deployment app: its grants, config and telemetry rules; Ctrl-C removes the temp dir', async (c) => {
  const doc = path.join(c.dir.path, 'deployment.json');
  await writeFile(
    doc,
    JSON.stringify({
      revision: 3,
      apps: {
        meter: {
          image: 'example/meter:1',
          devices: [{ device: 'rs485-1', access: 'rw', mode: 'broker' }],
          config: { unit: 1 },
          telemetry: { power: { deadband: 5 } },
        },
      },
    }),
  );
  const sim = await startSim(['--deployment', doc, '--app', 'meter', '--drift-ms', '0']);
  c.sim = sim;
  const dir = /^ {2}dir (\S+) \(removed at exit\)/.exec(sim.lines().find((l) => l.startsWith('  dir ')) ?? '')?.[1];
  assert.ok(dir && (await exists(dir)), `the temp dir is announced: ${dir}`);
  const pids = socatPids(sim.lines());

  const g = await connect({ path: sim.socket, reconnect: false });
  c.g = g;
  const info = await g.info();
  assert.equal([info.app, info.revision, info.devices.length, info.sensors], ['meter', 3, 1, []]);
  assert.equal((await g.config.get()).config, { unit: 1 });
  try {
    await g.sensors.read('board-temp');
    assert.unreachable('board-temp is not granted to meter');
  } catch (e) {
    assert.instance(e, DeniedError);
    assert.match((e as Error).message, /sensor board-temp is not granted to app meter/);
  }
  for (const v of [100, 102, 110]) await g.telemetry.publish('power', v);
  await sim.line(/^upstream meter power sample p3 .*"value":110/);
  const upstream = sim.lines().filter((l) => l.startsWith('upstream meter power'));
  assert.is(upstream.length, 2, `the deadband keeps 102 back: ${upstream.join(' | ')}`);
  assert.is(sim.lines().filter((l) => l.startsWith('telemetry meter power')).length, 3);

  await g.close();
  c.g = undefined;
  sim.peer.child.kill('SIGINT');
  assert.is(await withTimeout(sim.peer.exited, 10_000, 'the simulator to exit on SIGINT'), 0);
  assert.equal(pids.filter(alive), [], 'no socat left behind');
  assert.not.ok(await exists(dir), 'the temp dir is removed');
});

test('bad input is refused with a clear message and exit code 2; no socat: how to install it', async (c) => {
  const doc = path.join(c.dir.path, 'bad.json');
  await writeFile(
    doc,
    `{\n  "revision": 1,\n  "apps": { "meter": { "image": "m:1",\n    "devices": [{ "device": "rs485-9", "access": "rw", "mode": "broker" }] } }\n}\n`,
  );
  const bad = spawnSim(['--deployment', doc, '--dir', path.join(c.dir.path, 'x')]);
  assert.is(await withTimeout(bad.exited, 30_000, 'the refusal'), 2);
  assert.match(bad.output(), /deployment .*bad\.json is invalid:\n {2}.*bad\.json:4:\d+: .*rs485-9/);

  const flag = spawnSim(['--drift-ms', 'x']);
  assert.is(await withTimeout(flag.exited, 30_000, 'the refusal'), 2);
  assert.match(flag.output(), /--drift-ms must be 0/);

  const script = path.join(c.dir.path, 'r.json');
  await writeFile(script, '{"slaves": {"1": {"registers": {"0": -1}}}}');
  const badScript = spawnSim(['--script', script]);
  assert.is(await withTimeout(badScript.exited, 30_000, 'the refusal'), 2);
  assert.match(badScript.output(), /responder script .*r\.json: \/slaves\/1\/registers\/0: a register value/);

  // PATH without socat (node is run by its absolute path).
  const noSocat = spawnSim(['--dir', path.join(c.dir.path, 'y')], {
    ...process.env,
    PATH: path.join(c.dir.path, 'empty'),
  });
  assert.is(await withTimeout(noSocat.exited, 30_000, 'the refusal'), 1);
  assert.match(noSocat.output(), /socat is needed .*apt-get install socat/);
  assert.ok(!(await exists(path.join(c.dir.path, 'y', 'sys'))), 'nothing was started');
});

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

test.run();
