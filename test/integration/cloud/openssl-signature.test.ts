import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { assembleEnvelope, SIGNING_CONTEXT, verifyEnvelope } from '../../../agent/src/cloud/envelope.js';
import { loadPrivateKey, loadPublicKey } from '../../../agent/src/cloud/keys.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { run } from '../../helpers/processes.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

/**
 * The envelope contract, checked with an independent signer: keys made and a
 * document signed by `openssl`, exactly as docs/mqtt-contract.md tells a cloud
 * implementer to do it.
 */
const { test } = hostSuite<{ dir: TempDir }>('cloud: envelopes signed by openssl', ['openssl']);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-openssl-sign-');
});
test.after(async (ctx) => {
  await ctx.dir?.cleanup();
});

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run('openssl', args, { cwd, timeoutMs: 30_000 });
  assert.is(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

test('openssl keys load, and an openssl signature over context + document verifies', async ({ dir }) => {
  const d = dir.path;
  await openssl(['genpkey', '-algorithm', 'ed25519', '-out', 'fleet.key'], d);
  await openssl(['pkey', '-in', 'fleet.key', '-pubout', '-out', 'fleet.pub'], d);
  const docText = '{"revision": 12, "apps": {}}\n'; // signed as written: spaces and newline included
  await writeFile(path.join(d, 'deployment.json'), docText);
  // printf 'gantry/v1 deployment\0' > msg; cat deployment.json >> msg
  await writeFile(path.join(d, 'msg'), Buffer.concat([Buffer.from(SIGNING_CONTEXT), Buffer.from(docText)]));
  await openssl(['pkeyutl', '-sign', '-inkey', 'fleet.key', '-rawin', '-in', 'msg', '-out', 'sig'], d);

  const sig = await readFile(path.join(d, 'sig'));
  assert.is(sig.byteLength, 64);
  const envelope = assembleEnvelope('fleet-1', Buffer.from(docText), sig);
  const trusted = new Map([['fleet-1', await loadPublicKey(path.join(d, 'fleet.pub'))]]);
  const v = verifyEnvelope(envelope, trusted);
  assert.equal(v.doc, { revision: 12, apps: {} });
  assert.is(Buffer.from(v.docBytes).toString(), docText);

  // and the private key file is usable by the fleet CLI's loader
  assert.is((await loadPrivateKey(path.join(d, 'fleet.key'))).asymmetricKeyType, 'ed25519');
});

test.run();
