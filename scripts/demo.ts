/**
 * The main job, for a newcomer: build the demo images into an OCI layout,
 * simulate a gateway's hardware (a Modbus meter on a serial bus made of a
 * socat pty pair, a fake sysfs with a drifting temperature), start the agent
 * with the generic profile and an embedded MQTT broker (no cloud needed),
 * deploy a two-app demo (a busybox ticker, and a Node.js app that reads the
 * meter and the sensor through @gantry/sdk and publishes telemetry), show
 * `gantry ps` and the telemetry as it reaches the broker, until Ctrl-C; then
 * deploy an empty revision (which removes the demo apps) and stop.
 *
 *   node --import tsx scripts/demo.ts [--data-dir DIR] [--profile NAME] [--images DIR] [--once]
 *
 * --once cleans up right after `gantry ps` (the test suite uses it).
 */
import { spawn } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { ApiClient } from '../agent/src/api/client.js';
import { decodePayload } from '../agent/src/cloud/payload.js';
import type { FirmwareProfile } from '../agent/src/config/profile-types.js';
import type { DeploymentDocument } from '../agent/src/deploy/types.js';
import { buildTestImages } from './lib/build-test-images.js';
import { type DemoSite, startDemoSite } from './lib/demo-site.js';

const REPO = path.resolve(new URL('..', import.meta.url).pathname);
const BIN = path.join(REPO, 'agent/dist/cli/main.js');

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    profile: { type: 'string', default: 'generic-x86_64' },
    images: { type: 'string' },
    once: { type: 'boolean', default: false },
  },
});
const dataDir = path.resolve(values['data-dir'] ?? process.env.GANTRY_DATA_DIR ?? path.join(REPO, '.gantry-demo'));
const imagesDir = path.resolve(values.images ?? path.join(REPO, '.gantry-demo-images'));
const say = (text: string) => process.stdout.write(`demo: ${text}\n`);

await access(BIN).catch(() => {
  process.stderr.write(`demo: ${BIN} is missing; run "npm run build" first (npm start does)\n`);
  process.exit(1);
});

/** The images are built once and kept: the node image is ~100 MB. */
async function ensureImages(): Promise<void> {
  const index = await readFile(path.join(imagesDir, 'index.json'), 'utf8').catch(() => '');
  if (index.includes('"busybox"') && index.includes('"sdk-app"')) return;
  say(`building the demo images into ${imagesDir} (once; the node image takes a few seconds)`);
  await buildTestImages(imagesDir, ['busybox', 'sdk-app']);
}

function gantry(...args: string[]): Promise<number> {
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, ...args], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

function demoDocument(revision: number, site: DemoSite): DeploymentDocument {
  const image = (tag: string) => `oci:${imagesDir}:${tag}`;
  return {
    revision,
    description: 'the Gantry demo: a busybox ticker and a Node.js app on the simulated meter and sensor',
    apps: {
      ticker: {
        image: image('busybox'),
        command: [
          'sh',
          '-c',
          'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo "ticker: tick $i"; sleep 2; done',
        ],
        resources: { memoryMiB: 16, cpus: 0.1 },
      },
      meter: {
        image: image('sdk-app'),
        resources: { memoryMiB: 96, cpus: 0.5 },
        devices: [{ device: site.serialPort, access: 'rw', mode: 'broker' }],
        sensors: [site.sensor],
        config: { sensor: site.sensor, serialPort: site.serialPort, slave: 1, intervalMs: 2000 },
        telemetry: { [site.sensor]: { deadband: 0.1 } },
        dependsOn: ['ticker'],
      },
    },
    rollout: { healthyWithinSec: 30 },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Print telemetry as it reaches the embedded broker (aedes speaks MQTT 3.1.1). Resolves on the first message. */
function watchTelemetry(port: number): { first: Promise<void>; stop: () => Promise<void> } {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 500 });
  client.on('error', () => undefined);
  let seen: () => void = () => undefined;
  const first = new Promise<void>((resolve) => {
    seen = resolve;
  });
  client.on('connect', () => client.subscribe('gantry/v1/+/telemetry/#', { qos: 1 }));
  client.on('message', (topic, payload) => {
    const [, , device, , app, stream] = topic.split('/');
    let value: unknown;
    try {
      value = (decodePayload(payload, topic) as { value?: unknown }).value;
    } catch {
      value = `${payload.length} bytes`;
    }
    say(`telemetry from ${device}: ${app}/${stream} = ${JSON.stringify(value)}`);
    seen();
  });
  return { first, stop: () => client.endAsync().then(() => undefined) };
}

await ensureImages();
const generic = JSON.parse(
  await readFile(path.join(REPO, 'firmware-profiles', `${values.profile}.json`), 'utf8'),
) as FirmwareProfile;
const siteDir = `${dataDir}-site`;
say(
  `simulating the gateway's hardware in ${path.relative(process.cwd(), siteDir)} (a Modbus meter on a pty, a fake sysfs)`,
);
const site = await startDemoSite(siteDir, generic);
const brokerPort = await freePort();
const configFile = path.join(siteDir, 'agent.json');
await writeFile(
  configFile,
  `${JSON.stringify(
    {
      profile: site.profileFile,
      devices: { sysfsRoot: site.sysfsRoot },
      // No cloud configured: an embedded broker on loopback stands in for it.
      cloud: { embeddedBroker: { port: brokerPort }, trustedKeys: [] },
    },
    null,
    2,
  )}\n`,
);
say(`starting the agent (profile ${values.profile}, data dir ${dataDir}, MQTT broker on 127.0.0.1:${brokerPort})`);
const agent = spawn(process.execPath, [BIN, 'agent', '--data-dir', dataDir, '--config', configFile], {
  // The agent's JSON log goes to a file: the terminal shows the demo.
  stdio: ['ignore', 'inherit', 'pipe'],
});
const logFile = path.join(path.dirname(dataDir), `${path.basename(dataDir)}.log`);
const log: Buffer[] = [];
agent.stderr?.on('data', (c: Buffer) => log.push(c));
const agentExit = new Promise<number>((resolve) =>
  agent.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))),
);
const flushLog = () => writeFile(logFile, Buffer.concat(log)).catch(() => undefined);

const api = new ApiClient(path.join(dataDir, 'gantry.sock'), 2000);
const deadline = Date.now() + 15_000;
for (;;) {
  if (agent.exitCode !== null) {
    await flushLog();
    process.stderr.write(Buffer.concat(log));
    await site.stop();
    process.exit(await agentExit);
  }
  const up = await api.get<{ pid: number }>('/v1/info').then(
    (i) => i.pid === agent.pid,
    () => false,
  );
  if (up) break;
  if (Date.now() > deadline) {
    say('the agent did not answer within 15 s');
    agent.kill('SIGTERM');
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}
await gantry('info');

// Revisions only go up: continue from whatever this data dir has seen.
const history = await api.get<{ history: Array<{ revision: number }> }>('/v1/deployments');
const next = Math.max(0, ...history.history.map((h) => h.revision)) + 1;
const docFile = path.join(dataDir, 'demo-deployment.json');
await writeFile(docFile, `${JSON.stringify(demoDocument(next, site), null, 2)}\n`);
const telemetry = watchTelemetry(brokerPort);
say(`deploying ${path.relative(process.cwd(), docFile)} (revision ${next})`);
const deployed = await gantry('deploy', docFile);
await gantry('ps');

let cleaning: Promise<void> | undefined;
const cleanUp = () => {
  cleaning ??= (async () => {
    say('removing the demo apps (an empty revision) and stopping the agent');
    const empty = path.join(dataDir, 'demo-empty.json');
    await writeFile(empty, `${JSON.stringify({ revision: next + 1, apps: {} }, null, 2)}\n`);
    await gantry('deploy', empty);
    await telemetry.stop();
    agent.kill('SIGTERM');
    await agentExit;
    await site.stop();
  })();
  return cleaning;
};
process.on('SIGINT', () => void cleanUp());
process.on('SIGTERM', () => void cleanUp());

const cli = `node ${path.relative(process.cwd(), BIN)} --data-dir ${path.relative(process.cwd(), dataDir)}`;
process.stdout.write(
  [
    '',
    'demo: the agent and two apps are running; the meter app publishes telemetry (shown below). Try, in another shell:',
    `  ${cli} ps`,
    `  ${cli} logs -f meter`,
    `  mosquitto_sub -h 127.0.0.1 -p ${brokerPort} -t 'gantry/v1/#' -v    (payloads are CBOR)`,
    `  ${cli} deployments`,
    `  ${cli} stats`,
    `  curl -s --unix-socket ${path.join(dataDir, 'gantry.sock')} http://gantry/v1/health`,
    `demo: the agent's log is in ${path.relative(process.cwd(), logFile)}`,
    values.once ? 'demo: --once given, cleaning up' : 'demo: Ctrl-C removes the demo apps and stops the agent.',
    '',
  ].join('\n'),
);
if (values.once && deployed === 0) {
  // The test's proof that the whole path works: a sample from the app reached the broker.
  await Promise.race([telemetry.first, new Promise((r) => setTimeout(r, 30_000))]);
}
if (values.once || deployed !== 0) await cleanUp();
const code = await agentExit;
// The agent may also have stopped on its own: the simulated hardware goes either way.
await (cleaning ?? site.stop());
await flushLog();
process.exit(deployed !== 0 ? 1 : code);
