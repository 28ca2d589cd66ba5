import { readFile } from 'node:fs/promises';
import type { RegistrySettings } from '../../config/agent-config.js';
import { denied, invalid } from '../../errors.js';
import { agentVersion } from '../../version.js';
import { type Digest, isDigest } from '../digest.js';
import { MANIFEST_ACCEPT } from '../media-types.js';
import { formatReference } from '../reference.js';
import { Authorizer, type AuthTarget } from './auth.js';
import { DEFAULT_BACKOFF, isRetryableStatus, parseRetryAfter } from './backoff.js';
import { rangeFrom } from './content-range.js';
import type { BlobResponse, ManifestResult, RegistryClientOptions } from './index.js';
import { blobResponse, headerOf, readCapped, statusError, verifyManifest } from './responses.js';
import { defaultSleep, RetryableFailure, type RetryDeps, withRetries } from './retry.js';
import { type Response, Transport } from './transport.js';
import { blobUrl, checkRepository, manifestUrl, registryBaseUrl } from './urls.js';

const MiB = 1024 * 1024;
/** A token answer or an error document is small; more is not read. */
const SMALL_BODY_BYTES = 64 * 1024;

interface Call {
  target: AuthTarget;
  method: 'GET' | 'HEAD';
  url: URL;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Pulls manifests and blobs from OCI distribution registries. One instance
 * per agent: it keeps keep-alive connections, what auth each registry asked
 * for, and bearer tokens until they expire.
 */
export class RegistryClient {
  private readonly registries: Record<string, RegistrySettings>;
  private readonly maxManifestBytes: number;
  private readonly retry: RetryDeps;
  private readonly transport: Transport;
  private readonly auth: Authorizer;
  private readonly cas = new Map<string, Promise<string>>();
  private readonly now: () => number;

  constructor(opts: RegistryClientOptions = {}) {
    this.registries = opts.registries ?? {};
    this.maxManifestBytes = opts.maxManifestBytes ?? 4 * MiB;
    this.now = opts.now ?? Date.now;
    this.retry = {
      attempts: Math.max(1, opts.retries ?? 5),
      sleep: opts.sleep ?? defaultSleep,
      random: opts.random ?? Math.random,
      policy: DEFAULT_BACKOFF,
      log: opts.log,
    };
    this.transport = new Transport({
      connectTimeoutMs: opts.connectTimeoutMs ?? 15_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
      maxRedirects: 5,
      userAgent: `gantry/${agentVersion()}`,
    });
    this.auth = new Authorizer({
      now: this.now,
      settingsFor: (host) => this.registries[host],
      fetchToken: (url, headers, target) => this.fetchSmall({ target, method: 'GET', url, headers }),
      log: opts.log,
    });
  }

  /**
   * Resolve a tag (or digest) to a manifest/index: HEAD first
   * (Docker-Content-Digest), then GET; returns the bytes, verified against
   * the digest when one is known. A digest in `ref` wins over its tag, and
   * then HEAD is skipped (it could only say what is already known).
   * Throws `not-found`, `denied`, `invalid` (bad content), `unavailable`
   * (network or 5xx after the retries); an abort rejects with the signal's reason.
   */
  async getManifest(
    ref: { registry: string; repository: string; tag?: string; digest?: Digest },
    signal?: AbortSignal,
  ): Promise<ManifestResult> {
    const what = `manifest ${formatReference({ kind: 'registry', ...ref })}`;
    const target = this.target(ref);
    let expected = ref.digest;
    if (expected === undefined) {
      if (ref.tag === undefined) throw invalid(`${what}: a tag or a digest is needed`);
      expected = await this.headManifest(target, ref.tag, what, signal);
    }
    // By digest when known, so the bytes are the ones HEAD named even if the tag moves meanwhile.
    const url = manifestUrl(target.base, target.repository, expected ?? (ref.tag as string));
    return this.call({ target, method: 'GET', url, headers: { accept: MANIFEST_ACCEPT }, signal }, async (r) => {
      if (r.res.statusCode !== 200) throw await statusError(r.res, what, target.registry);
      const bytes = await readCapped(r.res, this.maxManifestBytes, what);
      return verifyManifest(bytes, r.res.headers, expected, what);
    });
  }

  /**
   * GET a blob, optionally from `offset` with a Range header; a 200 answer to
   * a ranged request gives offset 0 (caller restarts); a 206 whose
   * Content-Range does not start at `offset` is an error. Follows redirects
   * (registries redirect blobs to storage), without forwarding Authorization
   * to another host. Retries cover getting the answer; a body that breaks
   * later is the caller's to resume with a new offset.
   */
  async fetchBlob(
    ref: { registry: string; repository: string },
    digest: Digest,
    opts: { offset?: number; signal?: AbortSignal } = {},
  ): Promise<BlobResponse> {
    const target = this.target(ref);
    const offset = opts.offset ?? 0;
    const what = `blob ${digest} of ${ref.registry}/${ref.repository}`;
    const url = blobUrl(target.base, target.repository, digest);
    // distribution-spec "Pulling blobs": a registry MAY support Range; it may also ignore it (200).
    const headers: Record<string, string> = offset === 0 ? {} : { range: rangeFrom(offset) };
    return this.call({ target, method: 'GET', url, headers, signal: opts.signal }, (r) =>
      blobResponse(r.res, offset, what, target.registry),
    );
  }

  /** Close idle keep-alive connections (agent shutdown). Open streams are not touched. */
  close(): void {
    this.transport.close();
  }

  /** distribution-spec "Checking if content exists in the registry": the digest a tag points at, if told. */
  private headManifest(target: AuthTarget, tag: string, what: string, signal?: AbortSignal) {
    const url = manifestUrl(target.base, target.repository, tag);
    return this.call({ target, method: 'HEAD', url, headers: { accept: MANIFEST_ACCEPT }, signal }, async (r) => {
      const status = r.res.statusCode ?? 0;
      if (status === 404 || status === 403) throw await statusError(r.res, what, target.registry);
      r.res.resume();
      // Some registries and proxies do not answer HEAD (405...): then GET by tag alone decides.
      const dcd = headerOf(r.res, 'docker-content-digest');
      return status === 200 && dcd !== undefined && isDigest(dcd) ? dcd : undefined;
    });
  }

  private target(ref: { registry: string; repository: string }): AuthTarget {
    const settings = this.registries[ref.registry];
    return {
      registry: ref.registry,
      repository: checkRepository(ref.repository),
      base: registryBaseUrl(ref.registry, settings),
      settings,
    };
  }

  /**
   * One registry API call with auth, retries and redirects. `handle` runs
   * inside the attempt, so a body that breaks while it is read is retried too.
   */
  private call<T>(c: Call, handle: (r: Response) => Promise<T>): Promise<T> {
    return withRetries(`${c.method} ${c.url.href}`, this.retry, c.signal, async () => {
      let authorization = await this.auth.current(c.target, c.signal);
      for (let fresh = false; ; fresh = true) {
        const r = await this.send(c, authorization);
        const status = r.res.statusCode ?? 0;
        if (status === 401) {
          r.res.resume();
          if (fresh) throw deniedAfterFreshCredentials(c.target, authorization);
          const challenge = headerOf(r.res, 'www-authenticate');
          authorization = await this.auth.answer(c.target, challenge, authorization, c.signal);
          continue;
        }
        if (isRetryableStatus(status)) throw this.retryableStatus(r);
        return handle(r);
      }
    });
  }

  private async send(c: Call, authorization: string | undefined): Promise<Response> {
    const headers = { ...c.headers };
    if (authorization !== undefined) headers.authorization = authorization;
    return this.transport.send(c.url, {
      method: c.method,
      headers,
      signal: c.signal,
      ca: await this.caFor(c.target),
    });
  }

  /** A token request: retried like any call, no registry auth, a bounded body. */
  private fetchSmall(c: Call): Promise<{ status: number; body: Buffer }> {
    return withRetries(`GET ${c.url.origin}${c.url.pathname}`, this.retry, c.signal, async () => {
      const r = await this.send(c, undefined);
      const status = r.res.statusCode ?? 0;
      if (isRetryableStatus(status)) throw this.retryableStatus(r);
      return { status, body: await readCapped(r.res, SMALL_BODY_BYTES, `answer of ${c.url.origin}`) };
    });
  }

  private retryableStatus(r: Response): RetryableFailure {
    r.res.resume();
    const retryAfter = parseRetryAfter(headerOf(r.res, 'retry-after'), this.now());
    return new RetryableFailure(`HTTP ${r.res.statusCode} from ${r.url.host}`, retryAfter);
  }

  /** The registry's extra CA (caFile), read once; its redirects and token realm trust it too. */
  private caFor(target: AuthTarget): Promise<string | undefined> {
    const file = target.settings?.caFile;
    if (file === undefined) return Promise.resolve(undefined);
    let pem = this.cas.get(file);
    if (!pem) {
      pem = readFile(file, 'utf8').catch((e: unknown) => {
        this.cas.delete(file);
        throw invalid(`cannot read caFile ${file} of registry ${target.registry}`, { cause: e });
      });
      this.cas.set(file, pem);
    }
    return pem;
  }
}

function deniedAfterFreshCredentials(t: AuthTarget, authorization: string | undefined) {
  const how = authorization?.startsWith('Bearer ')
    ? 'a fresh token from its token server'
    : `the credentials of user ${t.settings?.username ?? '(none)'}`;
  return denied(`registry ${t.registry} denied pulling repository ${t.repository}: HTTP 401 even with ${how}`);
}
