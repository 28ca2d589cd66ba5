import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';
import type { ManifestResult } from './sources/source.js';
import type { UnpackOptions, UnpackResult } from './unpack/index.js';

/**
 * The image store's seams: what it needs from the registry client and the
 * layer unpacker. The agent wires in `RegistryClient` and `unpackLayer`;
 * tests may wire anything that keeps these contracts.
 */
export interface RegistryPort {
  getManifest(
    ref: { registry: string; repository: string; tag?: string; digest?: Digest },
    signal?: AbortSignal,
  ): Promise<ManifestResult>;
  fetchBlob(
    ref: { registry: string; repository: string },
    digest: Digest,
    opts?: { offset?: number; signal?: AbortSignal },
  ): Promise<{ body: Readable; offset: number; totalSize?: number }>;
}

/** The unpacker's contract is its own module's (unpack/index.ts); the store takes any function of that shape. */
export type UnpackPort = (req: UnpackOptions) => Promise<UnpackResult>;

/** Images that running or desired apps use: never removed by rmi or prune. */
export interface ImageUsage {
  /** Manifest digests in use. */
  inUse(): Set<string>;
}

/** Progress of a pull, streamed to the CLI. */
export type PullEvent =
  | { type: 'resolved'; source: string; digest: string; mediaType: string }
  | { type: 'platform'; platform: string; digest: string }
  | { type: 'layer'; digest: string; size: number; status: LayerStatus; have?: number }
  | { type: 'done'; image: ImageSummary };

export type LayerStatus = 'waiting' | 'cached' | 'downloading' | 'downloaded' | 'unpacking' | 'done';

export interface ImageSummary {
  ref: string;
  digest: string;
  platform: string;
  size: number;
  unpackedSize: number;
  layers: number;
  pulledAt: string;
  /** Bytes fetched in this pull, and bytes found from an interrupted earlier attempt. */
  downloaded?: number;
  resumed?: number;
}
