/**
 * The registry client: the pull side of the OCI distribution spec
 * (https://github.com/opencontainers/distribution-spec/blob/main/spec.md),
 * over node:http/node:https. It resolves manifests and streams blobs; storing
 * and verifying blob content is the puller's job.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { RegistrySettings } from '../../config/agent-config.js';
import type { Digest } from '../digest.js';

export { RegistryClient } from './client.js';

export interface RegistryClientOptions {
  /** Per-registry settings from the agent config, keyed by host[:port] as written in references (`docker.io`, `127.0.0.1:5000`). */
  registries?: Record<string, RegistrySettings>;
  /** Largest manifest or index accepted, bytes (default 4 MiB: distribution-spec "Pushing Manifests" asks every registry to accept, so a portable image fits). */
  maxManifestBytes?: number;
  /** Attempts per request, the first included (default 5). */
  retries?: number;
  /** TCP connect deadline, ms (default 15 s: a cellular link can take a while to come up). */
  connectTimeoutMs?: number;
  /** Longest silence on a connection, ms, also while a blob body is being read (default 60 s). */
  idleTimeoutMs?: number;
  /** Injected for tests: sleeping between retries and the clock for token expiry. */
  sleep?: (ms: number) => Promise<void>;
  /** Epoch ms (default Date.now). */
  now?: () => number;
  /** Sample in [0, 1) for backoff jitter (default Math.random). */
  random?: () => number;
  log?: Logger;
}

/** A manifest or index, as the registry sent it. */
export interface ManifestResult {
  /** sha256 of `bytes`; equal to the requested digest and to Docker-Content-Digest when either was known. */
  digest: Digest;
  /** One of MANIFEST_TYPES or INDEX_TYPES, consistent with the body. */
  mediaType: string;
  bytes: Buffer;
}

export interface BlobResponse {
  /**
   * Body stream starting at `offset` (0 after a 200; the requested offset after a matching 206).
   * Not verified here: the caller hashes what it stores. It errors on an idle
   * connection and when the request's signal aborts; destroy it to stop early.
   */
  body: Readable;
  offset: number;
  /** Total blob size when the server said it (Content-Length / Content-Range). */
  totalSize?: number;
}
