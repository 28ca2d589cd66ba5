/**
 * The main job, for a newcomer: start the agent with the generic profile on a
 * data dir inside the repo, show `gantry info`, then keep the agent in the
 * foreground (its JSON log lines on stderr) until Ctrl-C.
 *
 *   node --import tsx scripts/demo.ts [--data-dir DIR] [--profile NAME] [--once]
 *
 * --once stops the agent after printing the info (used by the test suite).
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../agent/src/api/client.js';

const REPO = path.resolve(new URL('..', import.meta.url).pathname);
const BIN = path.join(REPO, 'agent/dist/cli/main.js');

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    profile: { type: 'string', default: 'generic-x86_64' },
    once: { type: 'boolean', default: false },
  },
});
const dataDir = path.resolve(values['data-dir'] ?? process.env.GANTRY_DATA_DIR ?? path.join(REPO, '.gantry-demo'));

await access(BIN).catch(() => {
  process.stderr.write(`demo: ${BIN} is missing; run "npm run build" first (npm start does)\n`);
  process.exit(1);
});

process.stdout.write(`demo: starting the agent (profile ${values.profile}, data dir ${dataDir})\n`);
const agent = spawn(process.execPath, [BIN, 'agent', '--data-dir', dataDir, '--profile', values.profile], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const agentExit = new Promise<number>((resolve) =>
  agent.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))),
);

const api = new ApiClient(path.join(dataDir, 'gantry.sock'), 2000);
const deadline = Date.now() + 15_000;
for (;;) {
  if (agent.exitCode !== null) process.exit(await agentExit);
  const up = await api.get<{ pid: number }>('/v1/info').then(
    (i) => i.pid === agent.pid,
    () => false,
  );
  if (up) break;
  if (Date.now() > deadline) {
    process.stderr.write('demo: the agent did not answer within 15 s\n');
    agent.kill('SIGTERM');
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}

const info = spawn(process.execPath, [BIN, 'info', '--data-dir', dataDir], { stdio: 'inherit' });
await new Promise((r) => info.once('exit', r));
process.stdout.write(
  [
    '',
    'demo: the agent is running. Try, in another shell:',
    `  node ${path.relative(process.cwd(), BIN)} info --json --data-dir ${dataDir}`,
    `  curl -s --unix-socket ${path.join(dataDir, 'gantry.sock')} http://gantry/v1/health`,
    values.once ? 'demo: --once given, stopping' : 'demo: Ctrl-C stops it.',
    '',
  ].join('\n'),
);

const stop = () => agent.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
if (values.once) stop();
process.exit(await agentExit);
