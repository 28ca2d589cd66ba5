import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ImageRecipe } from './oci-layout.js';
import type { LayerEntry } from './tar-layer.js';
import { parentDirs } from './tar-layer.js';
import { nodeAppRecipe } from './test-images.js';

const REPO = path.resolve(new URL('../..', import.meta.url).pathname);

/** Every regular file under `dir` (skipping source maps and type declarations), as image paths under `into`. */
function tree(dir: string, into: string): LayerEntry[] {
  const out: LayerEntry[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = statSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile() && !/\.(map|d\.ts|d\.cts)$/.test(name))
        out.push({ type: 'file', path: path.join(into, r), content: readFileSync(path.join(dir, r)), mode: 0o644 });
    }
  };
  walk('');
  return out;
}

/**
 * The Gantry demo app: a Node.js program using @gantry/sdk, driven by its
 * deployment config. It reads a sensor and polls a Modbus slave over a
 * shared serial port (whichever the config names), publishes both as
 * telemetry and heartbeats; a denied or failing call is logged and retried.
 */
export const SDK_APP_SOURCE = `import { connect } from '@gantry/sdk';

function crc16(bytes) {
  let crc = 0xffff;
  for (const b of bytes) { crc ^= b; for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1; }
  return crc;
}
function readHolding(slave, address) {
  const pdu = [slave, 3, address >> 8, address & 255, 0, 1];
  const crc = crc16(pdu);
  return Uint8Array.from([...pdu, crc & 255, crc >> 8]);
}
function register(slave, frame) {
  if (frame.length !== 7 || frame[0] !== slave || frame[1] !== 3) throw new Error('unexpected modbus answer');
  const crc = crc16(frame.subarray(0, 5));
  if ((frame[5] | (frame[6] << 8)) !== crc) throw new Error('bad modbus CRC');
  return (frame[3] << 8) | frame[4];
}

process.on('SIGTERM', () => { console.log('stopping'); process.exit(0); });
const g = await connect({ clientName: 'gantry-demo-app/1' });
const info = await g.info();
const name = info.app;
let config = (await g.config.get()).config ?? {};
console.log(\`\${name}: connected to agent \${info.agent} (revision \${info.revision ?? '-'})\`);
(async () => { for await (const c of await g.config.watch()) config = c.config ?? {}; })().catch(() => {});

for (let round = 1; ; round++) {
  try {
    if (config.sensor) {
      const r = await g.sensors.read(config.sensor);
      await g.telemetry.publish(config.sensor, r.value);
      console.log(\`\${name}: \${config.sensor} = \${r.value} \${r.unit}\`);
    }
    if (config.serialPort) {
      const slave = config.slave ?? 1;
      const reply = await g.serial.transact(config.serialPort, readHolding(slave, 0), {
        timeoutMs: 500,
        framing: { kind: 'interbyte', gapMs: 4 },
      });
      const value = register(slave, reply);
      await g.telemetry.publish(\`slave\${slave}.register0\`, value);
      console.log(\`\${name}: slave \${slave} register 0 = \${value}\`);
    }
    await g.health.heartbeat('ok');
  } catch (e) {
    console.log(\`\${name}: round \${round}: \${e.name}: \${e.message}\`);
  }
  await new Promise((r) => setTimeout(r, config.intervalMs ?? 2000));
}
`;

/** nodeAppRecipe with /app/node_modules holding @gantry/sdk (its built dist) and cbor-x, and an ESM app. */
export function sdkAppRecipe(appSource = SDK_APP_SOURCE): ImageRecipe {
  const node = nodeAppRecipe('');
  const [base, runtime] = node.layers;
  const sdk = path.join(REPO, 'sdk');
  const modules: LayerEntry[] = [
    { type: 'file', path: 'app/package.json', content: '{ "type": "module", "private": true }\n' },
    {
      type: 'file',
      path: 'app/node_modules/@gantry/sdk/package.json',
      content: readFileSync(path.join(sdk, 'package.json')),
    },
    ...tree(path.join(sdk, 'dist'), 'app/node_modules/@gantry/sdk/dist'),
    ...tree(path.join(REPO, 'node_modules/cbor-x'), 'app/node_modules/cbor-x'),
  ];
  const files = modules.map((e) => e.path);
  return {
    ...node,
    layers: [
      base as LayerEntry[],
      runtime as LayerEntry[],
      [{ type: 'dir', path: 'app' }, ...parentDirs(files, new Set(['app'])), ...modules],
      [{ type: 'file', path: 'app/index.js', content: appSource }],
    ],
  };
}
