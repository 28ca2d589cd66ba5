/**
 * A rollout to 1,000 simulated gateways through mosquitto on loopback:
 *
 *   node --import tsx scripts/bench/fleet.ts [--count 1000] [--waves 1,10%,50%,100%]
 *     [--healthy-for 10s] [--stable-ms 5000] [--start-delay-ms 500] [--fail-health 0]
 *
 * Three processes, as in production: mosquitto, the simulator (every gateway
 * is the agent's real cloud + deploy code over an in-memory runtime) and the
 * fleet CLI. Measured: the rollout's wall time (the CLI from start to exit)
 * and each wave's, the messages through the broker during the rollout
 * (mosquitto's $SYS/broker/messages/received and /sent), and the peak RSS of
 * the simulator and of the CLI (VmHWM / the largest VmRSS sampled).
 *
 * The time is bounded by the health windows, which are the knobs: a gateway
 * needs the container start delay plus the deploy service's stable window
 * (--stable-ms) to pass its health gate, and the CLI holds each gateway
 * healthy for --healthy-for before a wave counts; the four waves run one
 * after another. The defaults make about a minute.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { spawnPeer } from '../../test/helpers/processes.js';
import { tempDir } from '../../test/helpers/tmp.js';
import type { RolloutSummary } from '../fleet/progress.js';
import type { RolloutState } from '../fleet/rollout-machine.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    waves: { type: 'string', default: '1,10%,50%,100%' },
    'healthy-for': { type: 'string', default: '10s' },
    'stable-ms': { type: 'string', default: '5000' },
    'start-delay-ms': { type: 'string', default: '500' },
    'fail-health': { type: 'string', default: '0' },
  },
});

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function procKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The largest RSS of a process while it lives (VmHWM is gone once it exits, so sample). */
function rssPeak(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await procKb(pid, 'VmHWM'), await procKb(pid, 'VmRSS'));
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

const work = await tempDir('gantry-bench-fleet-');
const broker = await startMosquitto({
  extraConfig: 'sys_interval 1\nmax_queued_messages 100000\nmax_inflight_messages 0',
});
const sys = { received: 0, sent: 0 };
const sysClient = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-sys' });
sysClient.on('message', (topic, payload) => {
  const n = Number(payload.toString());
  if (topic.endsWith('/received')) sys.received = n;
  else sys.sent = n;
});
await sysClient.subscribeAsync(['$SYS/broker/messages/received', '$SYS/broker/messages/sent']);

const keyDir = path.join(work.path, 'keys');
const fleetMain = path.join(ROOT, 'scripts/fleet/main.ts');
const keys = spawnPeer(process.execPath, [
  '--import',
  'tsx',
  fleetMain,
  'keys',
  'generate',
  '--out',
  keyDir,
  '--kid',
  'bench',
]);
if ((await keys.exited) !== 0) throw new Error(`keys generate failed: ${keys.output()}`);

const count = Number(values.count);
console.log(`starting ${count} simulated gateways ...`);
const sim = spawnPeer(process.execPath, [
  '--import',
  'tsx',
  path.join(ROOT, 'scripts/simulate/simulate.ts'),
  '--broker',
  broker.url,
  '--count',
  String(count),
  '--trusted-key',
  path.join(keyDir, 'bench.pub.pem'),
  '--kid',
  'bench',
  '--start-delay-ms',
  values['start-delay-ms'],
  '--stable-ms',
  values['stable-ms'],
  '--fail-health',
  values['fail-health'],
  '--json',
]);
const simPid = sim.child.pid as number;
let ready: { startupMs: number; rssBytes: number; online: number } | undefined;
for (let i = 0; i < 600 && !ready; i++) {
  const line = sim
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"ready"'));
  if (line) ready = JSON.parse(line);
  else if (sim.child.exitCode !== null) throw new Error(`simulator exited: ${sim.output()}`);
  else await sleep(100);
}
if (!ready) throw new Error(`simulator not ready after 60 s: ${sim.output()}`);
const simPeak = rssPeak(simPid);
await sleep(2500); // let the births and first reported states settle, and $SYS catch up
const before = { ...sys };

const docFile = path.join(work.path, 'deployment.json');
const healthyWithinSec = Math.max(10, (Number(values['stable-ms']) / 1000) * 3);
await writeFile(
  docFile,
  `${JSON.stringify(
    {
      revision: 1,
      apps: {
        meter: {
          image: `reg.example/meter@sha256:${'1'.repeat(64)}`,
          resources: { memoryMiB: 32 },
          env: { MODE: 'bench' },
        },
      },
      rollout: { healthyWithinSec },
    },
    null,
    2,
  )}\n`,
);
const stateFile = path.join(work.path, 'rollout.json');
console.log(
  `rolling out to ${ready.online} gateways (waves ${values.waves}, healthy-for ${values['healthy-for']}, stable ${values['stable-ms']} ms, start delay ${values['start-delay-ms']} ms) ...`,
);
const t0 = performance.now();
const tool = spawnPeer(process.execPath, [
  '--import',
  'tsx',
  fleetMain,
  'rollout',
  docFile,
  '--broker',
  broker.url,
  '--key',
  path.join(keyDir, 'bench.key'),
  '--group',
  'all',
  '--waves',
  values.waves,
  '--healthy-for',
  values['healthy-for'],
  '--wave-timeout',
  '5m',
  '--max-failures',
  '25%',
  '--state',
  stateFile,
  '--json',
]);
const toolPeak = rssPeak(tool.child.pid as number);
const code = await tool.exited;
const totalMs = performance.now() - t0;
const toolKb = await toolPeak.stop();
if (code !== 0 && code !== 1) throw new Error(`the fleet CLI failed (${code}): ${tool.output()}`);
await sleep(2500); // $SYS updates every second
const after = { ...sys };
const simKb = Math.max(await simPeak.stop(), await procKb(simPid, 'VmHWM'));

const summary = JSON.parse(tool.output().slice(tool.output().indexOf('{'))) as RolloutSummary;
const state = JSON.parse(await readFile(stateFile, 'utf8')) as RolloutState;
console.log('');
console.log(`gateways:               ${count} (simulator start-up ${(ready.startupMs / 1000).toFixed(1)} s)`);
console.log(
  `rollout:                ${summary.phase}, ${summary.totals.healthy} healthy, ${summary.failures.length} failed`,
);
console.log(`total time (CLI run):   ${(totalMs / 1000).toFixed(1)} s (rollout itself ${summary.elapsedSec} s)`);
for (const [i, w] of state.waves.entries()) {
  const d =
    w.startedAt !== undefined && w.finishedAt !== undefined ? ((w.finishedAt - w.startedAt) / 1000).toFixed(1) : '-';
  console.log(`  wave ${i + 1}: ${String(w.devices.length).padStart(5)} gateways in ${d} s`);
}
const received = after.received - before.received;
const sent = after.sent - before.sent;
console.log(
  `broker messages:        ${received} received, ${sent} sent (${((received + sent) / count).toFixed(1)} per gateway)`,
);
console.log(`peak RSS simulator:     ${mib(simKb)} (${(simKb / count).toFixed(0)} KiB per gateway)`);
console.log(`peak RSS fleet CLI:     ${mib(toolKb)}`);

await sysClient.endAsync();
await sim.stop(15_000);
await broker.stop();
await work.cleanup();
