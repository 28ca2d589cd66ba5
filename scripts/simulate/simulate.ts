/**
 * Run N simulated gateways against an MQTT broker until interrupted.
 *
 *   node --import tsx scripts/simulate/simulate.ts --broker mqtt://127.0.0.1:1883 --count 1000 \
 *     --trusted-key fleet.pub.pem --kid fleet-1 [--prefix sim-] [--profile ec-iot-arm] \
 *     [--start-delay-ms 500] [--stable-ms 1000] \
 *     [--fail-health 0.2 | --fail-devices sim-003,sim-017] [--fail-images REF,...] \
 *     [--offline 0.05 | --offline-devices ids] [--seed 1] [--json]
 *
 * Each gateway is the agent's real cloud path and deploy service over an
 * in-memory runtime (gateway.ts). Prints one line (or a JSON object) when
 * every gateway that should be online is, then runs until SIGINT/SIGTERM,
 * when each disconnects cleanly.
 */
import { parseArgs } from 'node:util';
import { loadPublicKey } from '../../agent/src/cloud/keys.js';
import { messageOf } from '../../agent/src/errors.js';
import { startSimulatedFleet } from './fleet.js';

const USAGE = `usage: simulate.ts --broker URL --count N --trusted-key PUB.pem --kid KID [options]
  --prefix P             device ids P0000.. (default sim-)
  --profile NAME|FILE    firmware profile (default ec-iot-arm)
  --start-delay-ms MS    container start delay (default 500)
  --stable-ms MS         how long an app without a health check must run to be healthy (default 1000)
  --fail-health SHARE    share of gateways whose containers exit after start (0..1)
  --fail-devices IDS     or these gateways (comma list)
  --fail-images REFS     only containers of these images fail (default: every image)
  --offline SHARE        share of gateways that never connect (0..1)
  --offline-devices IDS  or these gateways
  --seed N               seed for the shares (default 1)
  --json                 print the ready line as JSON`;

const list = (s: string | undefined) =>
  s
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean) ?? [];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      broker: { type: 'string' },
      count: { type: 'string' },
      prefix: { type: 'string', default: 'sim-' },
      profile: { type: 'string', default: 'ec-iot-arm' },
      'start-delay-ms': { type: 'string', default: '500' },
      'stable-ms': { type: 'string', default: '1000' },
      'fail-health': { type: 'string' },
      'fail-devices': { type: 'string' },
      'fail-images': { type: 'string' },
      offline: { type: 'string' },
      'offline-devices': { type: 'string' },
      'trusted-key': { type: 'string' },
      kid: { type: 'string' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.broker || !values.count || !values['trusted-key'] || !values.kid) {
    process.stderr.write(`simulate: --broker, --count, --trusted-key and --kid are required\n${USAGE}\n`);
    return 2;
  }
  const started = Date.now();
  const fleet = await startSimulatedFleet({
    brokerUrl: values.broker,
    count: Number(values.count),
    prefix: values.prefix,
    profile: values.profile,
    trustedKeys: new Map([[values.kid, await loadPublicKey(values['trusted-key'])]]),
    startDelayMs: Number(values['start-delay-ms']),
    stableMs: Number(values['stable-ms']),
    ...(values['fail-health'] !== undefined ? { failHealth: Number(values['fail-health']) } : {}),
    failDevices: list(values['fail-devices']),
    failImages: list(values['fail-images']),
    ...(values.offline !== undefined ? { offline: Number(values.offline) } : {}),
    offlineDevices: list(values['offline-devices']),
    seed: Number(values.seed),
  });
  const ready = {
    ready: true,
    gateways: fleet.ids.length,
    online: fleet.ids.length - fleet.offline.length,
    failing: fleet.failing,
    offline: fleet.offline,
    startupMs: Date.now() - started,
    rssBytes: process.memoryUsage().rss,
    pid: process.pid,
  };
  process.stdout.write(
    values.json
      ? `${JSON.stringify(ready)}\n`
      : `simulate: ${ready.online} of ${ready.gateways} gateways online in ${ready.startupMs} ms ` +
          `(${fleet.failing.length} failing health, ${fleet.offline.length} offline), RSS ${(ready.rssBytes / 2 ** 20).toFixed(0)} MiB\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await fleet.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`simulate: ${messageOf(e)}\n`);
    process.exit(1);
  },
);
