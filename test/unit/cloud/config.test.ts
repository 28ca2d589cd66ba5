import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CLOUD_CONFIG_SCHEMA, resolveCloudConfig } from '../../../agent/src/cloud/config.js';
import { generateKeyPair } from '../../../agent/src/cloud/keys.js';
import { compileSchema } from '../../../agent/src/config/json-document.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir; keyFile: string }>('cloud: config section', {} as { dir: TempDir; keyFile: string });

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-cloud-config-');
  ctx.keyFile = path.join(ctx.dir.path, 'fleet.pub.pem');
  await writeFile(ctx.keyFile, generateKeyPair().publicPem);
});
test.after(async (ctx) => {
  await ctx.dir?.cleanup();
});

// The schema fragment as the agent config embeds it.
const validate = compileSchema({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: { cloud: CLOUD_CONFIG_SCHEMA },
});

test('the schema fragment compiles strictly and accepts the documented shapes', () => {
  const keys = [{ kid: 'fleet-1', publicKeyFile: '/etc/gantry/fleet-1.pem' }];
  for (const cloud of [
    { trustedKeys: keys },
    { url: 'mqtts://broker.example:8883', caFile: '/a', certFile: '/b', keyFile: '/c', trustedKeys: keys },
    { url: 'mqtt://127.0.0.1:1883', username: 'u', password: 'p', keepaliveSec: 30, trustedKeys: [] },
    { embeddedBroker: { port: 0 }, trustedKeys: keys, reportIntervalCron: '*/1 * * * *', protocolVersion: 4 },
  ]) {
    assert.ok(validate({ cloud }), JSON.stringify(validate.errors));
  }
  for (const cloud of [
    {},
    { url: 'http://x', trustedKeys: [] },
    { url: 'mqtt://x', embeddedBroker: { port: 1 }, trustedKeys: [] },
    { certFile: '/b', trustedKeys: [] },
    { trustedKeys: [{ kid: 'a/b', publicKeyFile: '/k' }] },
    { trustedKeys: [{ kid: 'a', publicKeyFile: 'relative.pem' }] },
    { trustedKeys: [], extra: 1 },
  ]) {
    assert.not.ok(validate({ cloud }), JSON.stringify(cloud));
  }
});

test('resolve reads the key files and defaults to the embedded broker', async ({ keyFile }) => {
  const r = await resolveCloudConfig({ trustedKeys: [{ kid: 'fleet-1', publicKeyFile: keyFile }] });
  assert.equal(r.broker, { kind: 'embedded', port: 1883 });
  assert.is(r.trustedKeys.get('fleet-1')?.asymmetricKeyType, 'ed25519');
  assert.is(r.reportCron, '*/5 * * * *');
});

test('resolve names the field and file that is wrong', async ({ keyFile }) => {
  const cases: Array<[Parameters<typeof resolveCloudConfig>[0], RegExp]> = [
    [
      { trustedKeys: [{ kid: 'k', publicKeyFile: '/nonexistent/k.pem' }] },
      /cannot read key file \/nonexistent\/k\.pem/,
    ],
    [{ url: 'mqtts://x:1', caFile: '/nonexistent/ca.pem', trustedKeys: [] }, /cloud\.caFile \/nonexistent\/ca\.pem/],
    [{ url: 'mqtt://x:1', caFile: keyFile, trustedKeys: [] }, /use mqtts:\/\//],
    [{ trustedKeys: [], reportIntervalCron: 'often' }, /reportIntervalCron/],
    [
      {
        trustedKeys: [
          { kid: 'k', publicKeyFile: keyFile },
          { kid: 'k', publicKeyFile: keyFile },
        ],
      },
      /kid k twice/,
    ],
  ];
  for (const [cfg, message] of cases) {
    try {
      await resolveCloudConfig(cfg);
      assert.unreachable(`accepted ${JSON.stringify(cfg)}`);
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'), String(e));
      assert.match((e as Error).message, message);
    }
  }
});

test.run();
