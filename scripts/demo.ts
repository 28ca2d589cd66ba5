/**
 * The main job, for a newcomer: build the demo images into an OCI layout,
 * start the agent with the generic profile on a data dir inside the repo,
 * deploy a two-app demo (a busybox ticker and a Node.js app), show
 * `gantry ps`, and keep everything running until Ctrl-C; then deploy an
 * empty revision (which stops and removes the demo apps) and stop the agent.
 *
 *   node --import tsx scripts/demo.ts [--data-dir DIR] [--profile NAME] [--images DIR] [--once]
 *
 * --once cleans up right after `gantry ps` (the test suite uses it).
 */
import { spawn } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../agent/src/api/client.js';
import type { DeploymentDocument } from '../agent/src/deploy/types.js';
import { buildTestImages } from './lib/build-test-images.js';

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
  if (index.includes('"busybox"') && index.includes('"node-app"')) return;
  say(`building the demo images into ${imagesDir} (once; the node image takes a few seconds)`);
  await buildTestImages(imagesDir, ['busybox', 'node-app']);
}

function gantry(...args: string[]): Promise<number> {
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, ...args], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

function demoDocument(revision: number): DeploymentDocument {
  const image = (tag: string) => `oci:${imagesDir}:${tag}`;
  return {
    revision,
    description: 'the Gantry demo: a busybox ticker and a Node.js app',
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
      'hello-node': {
        image: image('node-app'),
        resources: { memoryMiB: 96, cpus: 0.5 },
        dependsOn: ['ticker'],
      },
    },
    rollout: { healthyWithinSec: 30 },
  };
}

await ensureImages();
say(`starting the agent (profile ${values.profile}, data dir ${dataDir})`);
const agent = spawn(process.execPath, [BIN, 'agent', '--data-dir', dataDir, '--profile', values.profile as string], {
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
await writeFile(docFile, `${JSON.stringify(demoDocument(next), null, 2)}\n`);
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
    agent.kill('SIGTERM');
  })();
  return cleaning;
};
process.on('SIGINT', () => void cleanUp());
process.on('SIGTERM', () => void cleanUp());

const cli = `node ${path.relative(process.cwd(), BIN)} --data-dir ${path.relative(process.cwd(), dataDir)}`;
process.stdout.write(
  [
    '',
    'demo: the agent and two apps are running. Try, in another shell:',
    `  ${cli} ps`,
    `  ${cli} logs -f hello-node`,
    `  ${cli} deployments`,
    `  ${cli} stats`,
    `  curl -s --unix-socket ${path.join(dataDir, 'gantry.sock')} http://gantry/v1/health`,
    `demo: the agent's log is in ${path.relative(process.cwd(), logFile)}`,
    values.once ? 'demo: --once given, cleaning up' : 'demo: Ctrl-C removes the demo apps and stops the agent.',
    '',
  ].join('\n'),
);
if (values.once || deployed !== 0) await cleanUp();
const code = await agentExit;
await flushLog();
process.exit(deployed !== 0 ? 1 : code);
