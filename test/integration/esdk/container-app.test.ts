import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { decodePayload } from '../../../agent/src/cloud/payload.js';
import type { FirmwareProfile } from '../../../agent/src/config/profile-types.js';
import type { DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { createFakeSysfs } from '../../../agent/src/devices/sim/fake-sysfs.js';
import { type ModbusResponder, startModbusResponder } from '../../../agent/src/devices/sim/modbus-responder.js';
import { buildTestImages } from '../../../scripts/lib/build-test-images.js';
import { REPO_ROOT, startAgent, type TestAgent } from '../../helpers/agent.js';
import { gantryOk, removeAll } from '../../helpers/apps.js';
import { deploy, writeDoc } from '../../helpers/deploy.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { type CliSubscriber, cliSubscriber } from '../../helpers/mqtt-cli.js';
import { type PtyPair, ptyPair } from '../../helpers/pty.js';
import { waitFor } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  pty: PtyPair;
  meter: ModbusResponder;
  broker: Mosquitto;
  sub: CliSubscriber;
  agent: TestAgent;
  image: string;
}

const DEVICE = 'gw-esdk-e2e';
const { test } = hostSuite<Ctx>('esdk: a real container using @gantry/sdk (runc, socat, mosquitto)', [
  'runc',
  'conmon',
  'busybox',
  'socat',
  'mosquitto',
  'mosquitto_sub',
]);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-esdk-e2e-');
  const layout = path.join(ctx.dir.path, 'layout');
  await buildTestImages(layout, ['sdk-app']);
  ctx.image = `oci:${layout}:sdk-app`;
  // The gateway's RS-485 bus is one end of a pty pair; a Modbus meter (slave 7) answers on the other.
  ctx.pty = await ptyPair();
  ctx.meter = await startModbusResponder({ path: ctx.pty.b, baudRate: 9600, slaves: { 7: {} } });
  const sysfs = await createFakeSysfs(path.join(ctx.dir.path, 'sys'), {
    files: { 'class/hwmon/hwmon0/temp1_input': 41_500 },
  });
  const generic = JSON.parse(
    await readFile(path.join(REPO_ROOT, 'firmware-profiles/generic-x86_64.json'), 'utf8'),
  ) as FirmwareProfile & { $schema?: string };
  const profile = {
    ...generic,
    $schema: undefined,
    serialPorts: (generic.serialPorts ?? []).map((p, i) => (i === 0 ? { ...p, path: ctx.pty.a } : p)),
  };
  const profileFile = path.join(ctx.dir.path, 'profile.json');
  await writeFile(profileFile, JSON.stringify(profile));
  ctx.broker = await startMosquitto();
  const config = path.join(ctx.dir.path, 'agent.json');
  await writeFile(
    config,
    JSON.stringify({
      deviceId: DEVICE,
      profile: profileFile,
      devices: { sysfsRoot: sysfs.root },
      cloud: { url: ctx.broker.url, trustedKeys: [] },
    }),
  );
  ctx.sub = await cliSubscriber(ctx.broker.port, [`gantry/v1/${DEVICE}/telemetry/#`]);
  ctx.agent = await startAgent({ dataDir: path.join(ctx.dir.path, 'data'), config });
});

test.after(async (ctx) => {
  if (ctx.agent) await removeAll(ctx.agent);
  await ctx.agent?.dispose();
  await ctx.sub?.stop();
  await ctx.broker?.stop();
  await ctx.meter?.close();
  await ctx.pty?.stop();
  await ctx.dir?.cleanup();
});

test('the app reads the serial meter and the sensor it was granted and publishes telemetry; another is denied', async (ctx) => {
  const doc: DeploymentDocument = {
    revision: 1,
    apps: {
      meter: {
        image: ctx.image,
        resources: { memoryMiB: 96, cpus: 0.5 },
        devices: [{ device: 'sim-serial-1', access: 'rw', mode: 'broker' }],
        sensors: ['sim-temp'],
        config: { sensor: 'sim-temp', serialPort: 'sim-serial-1', slave: 7, intervalMs: 300 },
      },
      // The same program without grants: the agent refuses its calls; nothing reaches the bus.
      nosy: {
        image: ctx.image,
        resources: { memoryMiB: 96, cpus: 0.25 },
        config: { serialPort: 'sim-serial-1', slave: 9, intervalMs: 300 },
      },
    },
    rollout: { healthyWithinSec: 20 },
  };
  const r = await deploy(ctx.agent, await writeDoc(ctx.dir.path, doc));
  assert.is(r.code, 0, r.error);

  const T = `gantry/v1/${DEVICE}/telemetry/meter`;
  const diagnose = async (e: unknown) => {
    const logs = await ctx.agent.gantry('logs', 'meter');
    throw new Error(
      `${e instanceof Error ? e.message : e}\nmeter's log:\n${logs.stdout}${logs.stderr}\nagent:\n${ctx.agent.peer.output().slice(-3000)}`,
    );
  };
  const reg = await ctx.sub
    .next((m) => m.topic === `${T}/slave7.register0`, 'register telemetry', 30_000)
    .catch(diagnose);
  assert.equal((decodePayload(reg.payload, reg.topic) as { value: unknown }).value, 7000);
  const temp = await ctx.sub.next((m) => m.topic === `${T}/sim-temp`, 'sensor telemetry', 30_000);
  assert.is((decodePayload(temp.payload, temp.topic) as { value: number }).value, 41.5);

  const logs = await waitFor(
    async () => {
      const out = await gantryOk(ctx.agent, 'logs', 'nosy');
      return /DeniedError/.test(out) && /sim-serial-1/.test(out) ? out : undefined;
    },
    { ms: 20_000, what: 'nosy to be denied' },
  );
  assert.match(logs, /not granted to app nosy/);
  assert.ok(ctx.meter.requests.get(9) === undefined, 'no request for slave 9 reached the bus');
  assert.is(ctx.meter.overlaps, 0);
  assert.ok(
    ctx.sub.messages.every((m) => !m.topic.includes('/telemetry/nosy/')),
    'nothing of nosy was published',
  );
});

test.run();
