import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { errnoCode, isGantryError } from '../../../../agent/src/errors.js';
import type { Digest } from '../../../../agent/src/images/digest.js';
import { RegistryClient } from '../../../../agent/src/images/registry/index.js';
import { readBlob } from '../../../../scripts/lib/oci-layout.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { run } from '../../../helpers/processes.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { REPO, readAll, type Seeded, seedStorage } from './fixtures.js';

interface Ctx {
  seeded: Seeded;
  registry: Registry;
  caFile: string;
}

const { test } = hostSuite<Ctx>('registry client: HTTPS with a private CA', ['docker-registry', 'openssl', 'busybox']);

/** A test CA and a server certificate for 127.0.0.1 signed by it. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const steps = [
    ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=gantry-test-ca'],
    ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'],
    ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial'].concat([
      '-out',
      f('server.pem'),
      '-days',
      '2',
      '-extfile',
      f('server.ext'),
    ]),
  ];
  for (const args of steps) {
    const r = await run('openssl', args, { timeoutMs: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  }
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

test.before(async (ctx) => {
  ctx.seeded = await seedStorage();
  const certs = await makeCerts(ctx.seeded.dir.path);
  ctx.caFile = certs.ca;
  ctx.registry = await startRegistry({
    storageDir: ctx.seeded.storage,
    tls: { certificate: certs.cert, key: certs.key },
  });
});
test.after(async (ctx) => {
  await ctx.registry?.stop();
  await ctx.seeded?.dir.cleanup();
});

test('with caFile the registry is trusted over HTTPS: manifest and blob', async ({ registry, seeded, caFile }) => {
  const c = new RegistryClient({ registries: { [registry.host]: { caFile } } });
  try {
    const repo = { registry: registry.host, repository: REPO('busybox') };
    const m = await withTimeout(c.getManifest({ ...repo, tag: 'latest' }), 10_000, 'manifest');
    assert.is(m.digest, seeded.images.busybox?.digest);
    const config = (JSON.parse(m.bytes.toString()) as { config: { digest: Digest } }).config.digest;
    const blob = await withTimeout(c.fetchBlob(repo, config, { offset: 3 }), 10_000, 'blob');
    assert.is(blob.offset, 3);
    assert.ok((await readAll(blob.body)).equals((await readBlob(seeded.layout, config)).subarray(3)));
  } finally {
    c.close();
  }
});

test('without caFile the certificate is refused at once: unavailable, not retried', async ({ registry }) => {
  const sleeps: number[] = [];
  const c = new RegistryClient({
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  try {
    const e = await withTimeout(
      c.getManifest({ registry: registry.host, repository: REPO('busybox'), tag: 'latest' }).then(
        () => undefined,
        (x: unknown) => x,
      ),
      10_000,
      'manifest',
    );
    assert.ok(isGantryError(e, 'unavailable'), String(e));
    assert.is(errnoCode((e as Error).cause), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.is(sleeps.length, 0);
  } finally {
    c.close();
  }
});

test('a caFile that cannot be read is invalid, naming the file', async ({ registry }) => {
  const c = new RegistryClient({ registries: { [registry.host]: { caFile: '/nonexistent/ca.pem' } } });
  try {
    const e = await c
      .getManifest({ registry: registry.host, repository: REPO('busybox'), tag: 'latest' })
      .catch((x: unknown) => x);
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match((e as Error).message, 'cannot read caFile /nonexistent/ca.pem');
  } finally {
    c.close();
  }
});

test.run();
