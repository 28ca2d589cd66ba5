import { openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { decodePayload } from '../../../agent/src/cloud/payload.js';
import { buildTestImages } from '../../../scripts/lib/build-test-images.js';
import { startAgent, type TestAgent } from '../../helpers/agent.js';
import { removeAll } from '../../helpers/apps.js';
import { deploy, writeDoc } from '../../helpers/deploy.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type RestartableMosquitto, startRestartableMosquitto } from '../../helpers/mosquitto-restartable.js';
import { type Peer, spawnPeer } from '../../helpers/processes.js';
import { waitFor } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite('cloud: store-and-forward through broker outages and agent kill -9', [
  'mosquitto',
  'mosquitto_sub',
  'runc',
  'conmon',
  'busybox',
]);

const DEVICE = 'gw-saf';
const TOTAL = 100_000;
const STREAMS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A peer whose stdout goes to a file: Peer.output() keeps only a tail, and every line counts here. */
function toFile(file: string, cmd: string, args: string[]): Peer {
  return spawnPeer(cmd, args, { stdio: ['ignore', openSync(file, 'w'), 'pipe'] });
}

/** `mosquitto_sub` with a persistent session: each line is the user properties and the hex payload. */
function subscriber(port: number, file: string): Peer {
  return toFile(file, 'mosquitto_sub', [
    ...['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-q', '1'],
    ...['-c', '-i', 'saf-subscriber', '-x', '3600'],
    ...['-t', `gantry/v1/${DEVICE}/telemetry/#`, '-F', '%P|%x'],
  ]);
}

/** Per stream, the sample values in order of first arrival; and how many deliveries were duplicates. */
function received(output: string): { firsts: Map<string, number[]>; duplicates: number; ids: number } {
  const firsts = new Map<string, number[]>();
  const seen = new Set<string>();
  const ids = new Set<string>();
  let duplicates = 0;
  for (const line of output.split('\n')) {
    const bar = line.lastIndexOf('|');
    if (bar < 0) continue;
    const props = line.slice(0, bar);
    const id = /msg-id:(\S+)/.exec(props)?.[1];
    const stream = /stream:(\S+)/.exec(props)?.[1]?.split('/').pop();
    if (!id || !stream) continue;
    ids.add(id);
    const value = (decodePayload(Buffer.from(line.slice(bar + 1), 'hex'), 'sample') as { value: number }).value;
    const key = `${stream}:${value}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    const list = firsts.get(stream) ?? [];
    list.push(value);
    firsts.set(stream, list);
  }
  return { firsts, duplicates, ids: ids.size };
}

test('100k samples, 10 broker restarts, 3 agent kill -9s: every resolved sample arrives, in order per stream', async () => {
  const dir: TempDir = await tempDir('gantry-saf-');
  const broker: RestartableMosquitto = await startRestartableMosquitto();
  let agent: TestAgent | undefined;
  let sub: Peer | undefined;
  let publisher: Peer | undefined;
  try {
    const layout = path.join(dir.path, 'layout');
    await buildTestImages(layout, ['busybox']);
    const config = path.join(dir.path, 'agent.json');
    await writeFile(config, JSON.stringify({ deviceId: DEVICE, cloud: { url: broker.url, trustedKeys: [] } }));
    const dataDir = path.join(dir.path, 'data');
    agent = await startAgent({ dataDir, config });
    // The app's container idles; its socket is what the publishing process (an app, as far as the agent knows) uses.
    const doc = {
      revision: 1,
      apps: {
        pub: {
          image: `oci:${layout}:busybox`,
          command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
          resources: { cpus: 0.1 },
        },
      },
      rollout: { healthyWithinSec: 4 },
    };
    const r = await deploy(agent, await writeDoc(dir.path, doc));
    assert.is(r.code, 0, r.error);
    const subOut = path.join(dir.path, 'subscriber.out');
    const pubOut = path.join(dir.path, 'publisher.out');
    sub = subscriber(broker.port, subOut);
    await sleep(500);

    publisher = toFile(pubOut, process.execPath, [
      '--import',
      'tsx',
      path.join(import.meta.dirname, 'fixtures/sample-publisher.ts'),
      path.join(dataDir, 'apps/pub/esdk.sock'),
      String(TOTAL),
      String(STREAMS),
      '50',
      '8000',
    ]);
    // ~12 s of publishing; outages and kills spread over it.
    for (let i = 1; i <= Number(process.env.SAF_OUTAGES ?? 10); i++) {
      await sleep(600);
      await broker.stop();
      await sleep(300);
      if (i % 3 === 0 && agent) {
        agent.peer.child.kill('SIGKILL');
        await agent.peer.exited;
        agent = await startAgent({ dataDir, config });
      }
      await broker.start();
    }
    const pubText = () => readFile(pubOut, 'utf8');
    await waitFor(async () => ((await pubText()).includes('done') ? true : undefined), {
      ms: 120_000,
      what: 'the publisher to finish',
      intervalMs: 200,
    });
    const acked = new Map<string, number>();
    for (const m of (await pubText()).matchAll(/^ok (\S+) (\d+) (\d+)$/gm))
      acked.set(m[1] as string, (acked.get(m[1] as string) ?? 0) + Number(m[3]) - Number(m[2]) + 1);
    assert.is(
      [...acked.values()].reduce((a, b) => a + b, 0),
      TOTAL,
      'every sample was acknowledged to the app',
    );

    const got = await waitFor(
      async () => {
        const r = received(await readFile(subOut, 'utf8'));
        const n = [...r.firsts.values()].reduce((a, b) => a + b.length, 0);
        return n >= TOTAL ? r : undefined;
      },
      { ms: 120_000, what: 'every sample at the subscriber', intervalMs: 500 },
    ).catch(async (e: unknown) => {
      const r = received(await readFile(subOut, 'utf8'));
      const counts = [...r.firsts].map(([k, v]) => `${k}:${v.length}`).join(' ');
      throw new Error(`${e instanceof Error ? e.message : e}; received ${counts}`);
    });
    for (let st = 0; st < STREAMS; st++) {
      const values = got.firsts.get(`s${st}`) ?? [];
      assert.is(values.length, TOTAL / STREAMS, `stream s${st} complete`);
      assert.ok(
        values.every((v, i) => v === i),
        `stream s${st} in order (first wrong at ${values.findIndex((v, i) => v !== i)})`,
      );
    }
    console.log(`  ${got.ids} message ids, ${got.duplicates} duplicate deliveries (dropped by value)`);
  } finally {
    await publisher?.stop();
    await sub?.stop();
    if (agent) {
      await removeAll(agent);
      await agent.dispose();
    }
    await broker.close();
    await dir.cleanup();
  }
});

test.run();
