import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canConnect, freePort } from './net.js';
import { type Peer, run, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';
import { tempDir } from './tmp.js';

export interface Registry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`) */
  readonly url: string;
  readonly peer: Peer;
  stop(): Promise<void>;
}

/**
 * Access control of a test registry (distribution's `auth:` config section).
 * - `htpasswd`: basic auth; the file is written with `htpasswd -Bbn` (distribution takes bcrypt only).
 * - `token`: bearer tokens from `realm`, which must be issued by `issuer` for audience `service`
 *   and signed by a key whose certificate chains to `rootCertBundle` (a PEM file).
 */
export type RegistryAuth =
  | { kind: 'htpasswd'; users: Record<string, string> }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface RegistryOptions {
  startTimeoutMs?: number;
  auth?: RegistryAuth;
  /** Serve HTTPS with this certificate and key (PEM files); the URL becomes `https://127.0.0.1:PORT`. */
  tls?: { certificate: string; key: string };
  /** Serve (and keep) this storage directory instead of a fresh one: push to an open registry, then serve the same content behind auth. */
  storageDir?: string;
}

/** The Debian `docker-registry` (CNCF distribution), plain HTTP on loopback, storage in a temp dir; open unless `auth` is given. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = await tempDir('gantry-registry-');
  const port = await freePort();
  const conf = path.join(dir.path, 'config.yml');
  await writeFile(
    conf,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${opts.storageDir ?? path.join(dir.path, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(opts.tls ? ['  tls:', `    certificate: ${opts.tls.certificate}`, `    key: ${opts.tls.key}`] : []),
      ...(opts.auth ? await authConfig(opts.auth, dir.path) : []),
      '',
    ].join('\n'),
  );
  const peer = spawnPeer('docker-registry', ['serve', conf]);
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`exited early: ${peer.output()}`);
        // fetch does not trust a test CA: over TLS, an accepting socket has to do.
        if (opts.tls) return (await canConnect(port)) ? true : undefined;
        const res = await fetch(`${url}/v2/`).catch(() => undefined);
        // Behind auth, /v2/ answers 401 with a challenge once the registry is up.
        return res?.status === (opts.auth ? 401 : 200) ? true : undefined;
      },
      { ms: opts.startTimeoutMs ?? 15_000, what: `docker-registry on ${url}` },
    );
  } catch (e) {
    await peer.stop();
    await dir.cleanup();
    throw new Error(`docker-registry did not start: ${peer.output()}`, { cause: e });
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    peer,
    async stop() {
      await peer.stop();
      await dir.cleanup();
    },
  };
}

// No stdin pipe: run() writes '' to one, and a child that exits first (htpasswd -b) turns that into EPIPE.
const NO_STDIN: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];

async function authConfig(auth: RegistryAuth, dir: string): Promise<string[]> {
  if (auth.kind === 'htpasswd') {
    const lines: string[] = [];
    for (const [user, password] of Object.entries(auth.users)) {
      const r = await run('htpasswd', ['-Bbn', user, password], { timeoutMs: 10_000, stdio: NO_STDIN });
      if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
      lines.push(r.stdout.trim());
    }
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, `${lines.join('\n')}\n`);
    return ['auth:', '  htpasswd:', '    realm: gantry-test', `    path: ${file}`];
  }
  return [
    'auth:',
    '  token:',
    `    realm: ${auth.realm}`,
    `    service: ${auth.service}`,
    `    issuer: ${auth.issuer}`,
    `    rootcertbundle: ${auth.rootCertBundle}`,
  ];
}
