import { invalid } from '../errors.js';
import { type Digest, parseDigest } from './digest.js';
import { INDEX_TYPES, layerCompression, MANIFEST_TYPES, MT } from './media-types.js';
import type { IndexEntry } from './platform-select.js';

/** A content descriptor (image-spec "Descriptors"), validated. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  diffIds: Digest[];
  /** The runtime part (Entrypoint, Cmd, Env, User, WorkingDir...), kept as JSON for the runtime. */
  config: Record<string, unknown>;
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`${what} is not valid JSON`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as { mediaType?: unknown; digest?: unknown; size?: unknown } | null;
  if (typeof d !== 'object' || d === null) throw invalid(`${what} is not a descriptor object`);
  if (typeof d.mediaType !== 'string') throw invalid(`${what}.mediaType is missing`);
  if (typeof d.digest !== 'string') throw invalid(`${what}.digest is missing`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    throw invalid(`${what}.size is not a non-negative integer`);
  return { mediaType: d.mediaType, digest: parseDigest(d.digest, `${what}.digest`), size: d.size };
}

/** Pure: is this document an index (by content), and does that agree with its declared type? */
export function isIndexDocument(bytes: Buffer, mediaType: string, what: string): boolean {
  const doc = parseJson(bytes, what);
  const isIndex = Array.isArray(doc.manifests);
  if (isIndex && !INDEX_TYPES.includes(mediaType)) throw invalid(`${what} is an index but was served as ${mediaType}`);
  if (!isIndex && INDEX_TYPES.includes(mediaType))
    throw invalid(`${what} is an image manifest but was served as ${mediaType}`);
  if (!isIndex && !MANIFEST_TYPES.includes(mediaType)) throw invalid(`${what} has unsupported media type ${mediaType}`);
  if (typeof doc.mediaType === 'string' && doc.mediaType !== mediaType) {
    throw invalid(`${what} says its mediaType is ${doc.mediaType} but was served as ${mediaType}`);
  }
  return isIndex;
}

/** Pure: the platform entries of an index. */
export function parseIndex(bytes: Buffer, what: string): IndexEntry[] {
  const doc = parseJson(bytes, what);
  if (doc.schemaVersion !== 2) throw invalid(`${what}: schemaVersion must be 2`);
  if (!Array.isArray(doc.manifests)) throw invalid(`${what}: manifests must be an array`);
  return doc.manifests.map((m: unknown, i: number) => {
    const d = descriptor(m, `${what} manifests[${i}]`);
    const platform = (m as { platform?: IndexEntry['platform'] }).platform;
    return platform
      ? { digest: d.digest, mediaType: d.mediaType, platform }
      : { digest: d.digest, mediaType: d.mediaType };
  });
}

/** Pure: config and layers of an image manifest, with every layer type one we can unpack. */
export function parseManifest(bytes: Buffer, what: string): ImageManifest {
  const doc = parseJson(bytes, what);
  if (doc.schemaVersion !== 2) throw invalid(`${what}: schemaVersion must be 2`);
  const config = descriptor(doc.config, `${what} config`);
  if (config.mediaType !== MT.ociConfig && config.mediaType !== MT.dockerConfig) {
    throw invalid(`${what}: config has media type ${config.mediaType}, not an image config`);
  }
  if (!Array.isArray(doc.layers)) throw invalid(`${what}: layers must be an array`);
  const layers = doc.layers.map((l: unknown, i: number) => {
    const d = descriptor(l, `${what} layers[${i}]`);
    if (layerCompression(d.mediaType) === undefined)
      throw invalid(`${what} layers[${i}]: unsupported layer media type ${d.mediaType}`);
    return d;
  });
  return { config, layers };
}

/** Pure: the parts of an image config the store and the runtime need. */
export function parseImageConfig(bytes: Buffer, what: string): ImageConfig {
  const doc = parseJson(bytes, what);
  const rootfs = doc.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (rootfs?.type !== 'layers' || !Array.isArray(rootfs.diff_ids))
    throw invalid(`${what}: rootfs must be {type: "layers", diff_ids: [...]}`);
  if (typeof doc.architecture !== 'string' || typeof doc.os !== 'string')
    throw invalid(`${what}: architecture and os are required`);
  const diffIds = rootfs.diff_ids.map((d: unknown, i: number) =>
    parseDigest(String(d), `${what} rootfs.diff_ids[${i}]`),
  );
  const cfg: ImageConfig = {
    architecture: doc.architecture,
    os: doc.os,
    diffIds,
    config: (doc.config as Record<string, unknown> | undefined) ?? {},
  };
  if (typeof doc.variant === 'string') cfg.variant = doc.variant;
  return cfg;
}
