import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { listenOnLoopback } from '../../../helpers/net.js';
import { run } from '../../../helpers/processes.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

export interface TokenRequest {
  scope: string | null;
  service: string | null;
  authorization: string | undefined;
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`, the realm to configure in the registry. */
  readonly realm: string;
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file of the self-signed certificate of the signing key: the registry's rootcertbundle. */
  readonly rootCertBundle: string;
  /** Every token request so far, in order. */
  readonly requests: TokenRequest[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  /** user → password; with none, everyone is anonymous. */
  users?: Record<string, string>;
  /** Whether anonymous requests get a token (with no access) or a 401. */
  anonymous?: 'empty-token' | 'refuse';
  expiresIn?: number;
  /** Answer with `access_token` instead of `token` (the OAuth2 spelling). */
  oauthField?: boolean;
}

/**
 * A token server of distribution's token auth spec, as small as it can be: it
 * checks Basic credentials, then issues an ES256 JWT for the requested
 * `repository:NAME:pull` scope, with the claims distribution 2.8 verifies
 * (registry/auth/token/token.go: iss, aud as a string, exp and nbf with 60 s
 * leeway, a signature by the key of the `x5c` leaf that chains to the
 * rootcertbundle).
 */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = await tempDir('gantry-token-');
  try {
    const { keyPem, certPem, certFile } = await makeSigningCert(dir);
    const key = createPrivateKey(keyPem);
    const x5c = new X509Certificate(certPem).raw.toString('base64');
    const service = 'gantry-test-registry';
    const issuer = 'gantry-test-issuer';
    const requests: TokenRequest[] = [];

    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const scope = url.searchParams.get('scope');
      requests.push({ scope, service: url.searchParams.get('service'), authorization: req.headers.authorization });
      const user = authenticate(req.headers.authorization, opts.users ?? {});
      if (user === null || (user === undefined && opts.anonymous === 'refuse')) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="gantry-test-token"' }).end();
        return;
      }
      const name = /^repository:([^:]+):pull$/.exec(scope ?? '')?.[1];
      const access = user !== undefined && name ? [{ type: 'repository', name, actions: ['pull'] }] : [];
      const expiresIn = opts.expiresIn ?? 300;
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: issuer,
        sub: user ?? '',
        aud: service,
        exp: now + expiresIn,
        nbf: now - 5,
        iat: now,
        jti: randomUUID(),
        access,
      };
      const token = jwt({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }, claims, key);
      const body = opts.oauthField ? { access_token: token, expires_in: expiresIn } : { token, expires_in: expiresIn };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const port = await listenOnLoopback(server);
    return {
      realm: `http://127.0.0.1:${port}/token`,
      host: `127.0.0.1:${port}`,
      service,
      issuer,
      rootCertBundle: certFile,
      requests,
      async stop() {
        server.closeAllConnections();
        await withTimeout(new Promise((r) => server.close(r)), 5000, 'token server to close');
        await dir.cleanup();
      },
    };
  } catch (e) {
    await dir.cleanup();
    throw e;
  }
}

/** undefined: anonymous; null: wrong credentials; else the user name. */
function authenticate(header: string | undefined, users: Record<string, string>): string | undefined | null {
  if (header === undefined) return undefined;
  const m = /^Basic (.+)$/.exec(header);
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = decoded.slice(0, colon);
  return colon > 0 && users[user] === decoded.slice(colon + 1) ? user : null;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function jwt(header: object, claims: object, key: ReturnType<typeof createPrivateKey>): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS ES256 (RFC 7518 §3.4): the signature is r||s, not DER.
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

/** A P-256 key and its self-signed certificate, usable for signatures (Go's x509 checks key usage). */
async function makeSigningCert(dir: TempDir): Promise<{ keyPem: string; certPem: string; certFile: string }> {
  const keyFile = path.join(dir.path, 'key.pem');
  const certFile = path.join(dir.path, 'cert.pem');
  const r = await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=gantry-test-token-issuer',
      '-addext',
      'keyUsage=critical,digitalSignature,keyCertSign',
    ],
    { timeoutMs: 15_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { keyPem: await readFile(keyFile, 'utf8'), certPem: await readFile(certFile, 'utf8'), certFile };
}
