import type { Logger } from 'pino';
import type { RegistrySettings } from '../../config/agent-config.js';
import { denied, invalid, unavailable } from '../../errors.js';
import { abortReason } from './transport.js';
import { mayCarryCredentials, pullScope, tokenUrl } from './urls.js';
import { type Challenge, parseWwwAuthenticate } from './www-authenticate.js';

/** Whom a request is for: the registry as named in references, one repository, its API base URL. */
export interface AuthTarget {
  registry: string;
  repository: string;
  base: URL;
  settings?: RegistrySettings;
}

/** What the registry asked for last time; remembered so later requests skip the anonymous round trip. */
type Scheme = { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string };

interface CachedToken {
  token: string;
  /** Epoch ms after which the token is not sent any more. */
  expiresAt: number;
}

export interface AuthorizerDeps {
  now: () => number;
  settingsFor: (hostPort: string) => RegistrySettings | undefined;
  /** GET a token URL (with retries); resolves with the status and a bounded body. */
  fetchToken: (
    url: URL,
    headers: Record<string, string>,
    target: AuthTarget,
  ) => Promise<{ status: number; body: Buffer }>;
  log?: Logger;
}

/** distribution token spec "Token Response Fields": expires_in defaults to 60 seconds. */
export const DEFAULT_TOKEN_LIFETIME_S = 60;

/**
 * Pure: the token and its expiry from a token server's JSON answer
 * (distribution token spec: `token`, or `access_token` for OAuth2
 * compatibility, and `expires_in` seconds). A token is dropped a little
 * before it expires (a tenth of its life, at most 10 s) so that it does not
 * run out between sending and the registry checking it.
 */
export function parseTokenResponse(body: Buffer, requestedAt: number): CachedToken {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw invalid('token server answer is not JSON', { cause: e });
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const token = typeof d.token === 'string' && d.token !== '' ? d.token : d.access_token;
  if (typeof token !== 'string' || token === '') throw invalid('token server answer has no token or access_token');
  const lifetimeS =
    typeof d.expires_in === 'number' && Number.isFinite(d.expires_in) && d.expires_in > 0
      ? d.expires_in
      : DEFAULT_TOKEN_LIFETIME_S;
  const lifetimeMs = lifetimeS * 1000;
  return { token, expiresAt: requestedAt + lifetimeMs - Math.min(lifetimeMs / 10, 10_000) };
}

/** Pure: the Basic credentials header (RFC 7617), or undefined when none are configured. */
export function basicAuthorization(settings: RegistrySettings | undefined): string | undefined {
  if (settings?.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${settings.username}:${settings.password ?? ''}`, 'utf8').toString('base64')}`;
}

/**
 * Registry auth (distribution-spec "Authentication"; distribution token
 * spec): anonymous first; a 401's challenge says Basic or Bearer; bearer
 * tokens are cached per (registry, scope) until they expire, and concurrent
 * requests for one scope share one token fetch.
 */
export class Authorizer {
  private readonly schemes = new Map<string, Scheme>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(private readonly deps: AuthorizerDeps) {}

  /** The Authorization to send before any challenge, from what this registry asked for before. */
  async current(t: AuthTarget, signal?: AbortSignal): Promise<string | undefined> {
    const scheme = this.schemes.get(t.registry);
    if (scheme === undefined) return undefined;
    if (scheme.kind === 'basic') return this.basic(t);
    const cached = this.tokens.get(tokenKey(t));
    if (cached && cached.expiresAt > this.deps.now()) return `Bearer ${cached.token}`;
    return `Bearer ${(await this.fetchShared(t, scheme, signal)).token}`;
  }

  /**
   * After a 401 to a request sent with `sent` (or anonymously): learn the
   * challenge and return fresh credentials for it. Throws `denied` when
   * nothing configured can answer it.
   */
  async answer(t: AuthTarget, header: string | undefined, sent: string | undefined, signal?: AbortSignal) {
    if (!header) throw denied(`registry ${t.registry} refused ${t.repository} with 401 and no challenge`);
    let challenges: Challenge[];
    try {
      challenges = parseWwwAuthenticate(header);
    } catch (e) {
      throw invalid(`registry ${t.registry} sent a malformed WWW-Authenticate header`, { cause: e });
    }
    // Bearer first: with a token the password goes only to the token server, once.
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm !== undefined);
    if (bearer?.params.realm !== undefined) {
      const scheme: Scheme = { kind: 'bearer', realm: bearer.params.realm, service: bearer.params.service };
      this.schemes.set(t.registry, scheme);
      // A token another request got since this one was sent is fresh enough;
      // only the token that was just refused is thrown away.
      const cached = this.tokens.get(tokenKey(t));
      if (cached && `Bearer ${cached.token}` !== sent && cached.expiresAt > this.deps.now()) {
        return `Bearer ${cached.token}`;
      }
      this.tokens.delete(tokenKey(t));
      return `Bearer ${(await this.fetchShared(t, scheme, signal)).token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      this.schemes.set(t.registry, { kind: 'basic' });
      const basic = this.basic(t);
      if (basic === undefined) {
        throw denied(`registry ${t.registry} needs credentials for ${t.repository}, and none are configured`);
      }
      return basic;
    }
    const offered = challenges.map((c) => c.scheme).join(', ');
    throw denied(`registry ${t.registry} asks for auth scheme(s) ${offered}; only Basic and Bearer are supported`);
  }

  private basic(t: AuthTarget): string | undefined {
    const header = basicAuthorization(t.settings);
    if (header === undefined) return undefined;
    if (!mayCarryCredentials(t.base, this.deps.settingsFor)) {
      throw denied(`not sending credentials for ${t.registry} over plain HTTP`);
    }
    return header;
  }

  // A shared fetch belongs to no one caller, so it runs without a signal
  // (bounded by the transport's timeouts and the retry count); each caller
  // stops waiting when its own signal aborts.
  private fetchShared(t: AuthTarget, scheme: Scheme & { kind: 'bearer' }, signal?: AbortSignal): Promise<CachedToken> {
    const key = tokenKey(t);
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(t, scheme).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return untilAborted(p, signal);
  }

  private async fetchToken(t: AuthTarget, scheme: Scheme & { kind: 'bearer' }): Promise<CachedToken> {
    const url = tokenUrl(scheme.realm, scheme.service, pullScope(t.repository));
    const headers: Record<string, string> = { accept: 'application/json' };
    const basic = basicAuthorization(t.settings);
    if (basic !== undefined) {
      if (!mayCarryCredentials(url, this.deps.settingsFor)) {
        throw denied(
          `not sending credentials for ${t.registry} to token realm ${url.origin} over plain HTTP ` +
            `(configure ${url.host} as insecure to allow it)`,
        );
      }
      headers.authorization = basic;
    }
    const requestedAt = this.deps.now();
    this.deps.log?.debug({ registry: t.registry, realm: url.origin, scope: pullScope(t.repository) }, 'token');
    const { status, body } = await this.deps.fetchToken(url, headers, t);
    if (status === 401 || status === 403) {
      const who = t.settings?.username !== undefined ? `user ${t.settings.username}` : 'anonymous pulls';
      throw denied(`token server ${url.origin} refused ${who} for ${t.registry}/${t.repository} (HTTP ${status})`);
    }
    if (status !== 200) {
      throw unavailable(`token server ${url.origin} answered HTTP ${status} for ${t.registry}/${t.repository}`);
    }
    const token = parseTokenResponse(body, requestedAt);
    this.prune();
    this.tokens.set(tokenKey(t), token);
    return token;
  }

  /** Expired tokens go when a new one comes, so the cache stays as small as the set of live scopes. */
  private prune(): void {
    const now = this.deps.now();
    for (const [k, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(k);
  }
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function tokenKey(t: AuthTarget): string {
  return `${t.registry}\n${pullScope(t.repository)}`;
}
