import { chmod, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './processes.js';

/**
 * A small PKI made by `openssl` (an independent tool, not node:crypto): a CA,
 * a server certificate for 127.0.0.1 and a client certificate, all signed by
 * that CA, plus a second unrelated CA for "wrong CA" tests. EC P-256 keys:
 * fast to make, accepted by mosquitto and node.
 */
export interface TestPki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here. */
  otherCaCert: string;
  /** A client certificate from the other CA (the broker must refuse it). */
  strangerCert: string;
  strangerKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run('openssl', args, { cwd, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  await openssl(
    ['req', '-x509', '-new', '-key', key, '-sha256', '-days', '2', '-subj', `/CN=${name}`, '-out', cert],
    dir,
  );
  return { cert, key };
}

async function issue(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  ext: string,
): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const extFile = path.join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  await openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr], dir);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '2',
      '-sha256',
      '-extfile',
      extFile,
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key };
}

/**
 * Made in `dir`, which becomes world-readable: mosquitto started as root drops
 * to the `mosquitto` user before it reads its certificate files.
 */
export async function makeTestPki(dir: string): Promise<TestPki> {
  const ca = await makeCa(dir, 'gantry-test-ca');
  const other = await makeCa(dir, 'other-ca');
  const server = await issue(
    dir,
    ca,
    'broker',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  const clientExt = 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n';
  const client = await issue(dir, ca, 'device-1', clientExt);
  const stranger = await issue(dir, other, 'stranger', clientExt);
  await chmod(dir, 0o755);
  for (const f of await readdir(dir)) await chmod(path.join(dir, f), 0o644);
  return {
    caCert: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherCaCert: other.cert,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
  };
}

/** mosquitto.conf lines for a mutual-TLS listener on 127.0.0.1:port (append via startMosquitto's extraConfig). */
export function mtlsListenerConfig(port: number, pki: TestPki): string {
  return [
    `listener ${port} 127.0.0.1`,
    `cafile ${pki.caCert}`,
    `certfile ${pki.serverCert}`,
    `keyfile ${pki.serverKey}`,
    'require_certificate true',
    'use_identity_as_username true',
  ].join('\n');
}
