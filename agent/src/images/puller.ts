import { statfs } from 'node:fs/promises';
import { failedPrecondition, invalid } from '../errors.js';
import { formatPlatform, type OciPlatform } from '../host/platform.js';
import { ByteRateLimiter, Semaphore } from './content/limits.js';
import type { ContentStore } from './content/store.js';
import type { Digest } from './digest.js';
import type { ImageRecords, LayerRecord } from './image-records.js';
import { LayerPipeline } from './layer-pipeline.js';
import { isIndexDocument, parseImageConfig, parseIndex, parseManifest } from './manifest.js';
import { selectPlatform } from './platform-select.js';
import type { ImageSummary, PullEvent, UnpackPort } from './ports.js';
import type { ImageSource } from './sources/source.js';

export interface PullerDeps {
  content: ContentStore;
  records: ImageRecords;
  unpack: UnpackPort;
  /** DATA/images/snapshots: one directory per unpacked layer, named by diff_id. */
  snapshotsDir: string;
  /** Pulls refuse to bring free space on the data dir's filesystem below this. */
  minFreeBytes: number;
  concurrency?: number;
  bandwidthBytesPerSec?: number;
  now?: () => Date;
}

export interface PullRequest {
  ref: string;
  source: ImageSource;
  platform: OciPlatform;
  signal?: AbortSignal;
  onEvent?: (e: PullEvent) => void;
  /** The name to keep the reference's previous image under, should this pull move the reference. */
  retiredRef?: (oldDigest: string) => string;
}

/**
 * Pull = resolve -> choose platform -> store manifest and config -> for each
 * layer (bounded concurrency): ingest the blob (resuming) and unpack it into
 * its snapshot once -> record the image in one transaction. Every step checks
 * digests; nothing is recorded until everything is on disk.
 */
export class Puller {
  private readonly limit: Semaphore;
  private readonly layers: LayerPipeline;

  constructor(private readonly deps: PullerDeps) {
    this.limit = new Semaphore(deps.concurrency ?? 3);
    this.layers = new LayerPipeline({
      content: deps.content,
      unpack: deps.unpack,
      snapshotsDir: deps.snapshotsDir,
      minFreeBytes: deps.minFreeBytes,
      ...(deps.bandwidthBytesPerSec ? { limiter: new ByteRateLimiter(deps.bandwidthBytesPerSec) } : {}),
    });
  }

  async pull(req: PullRequest): Promise<ImageSummary> {
    const { source, signal } = req;
    const emit = req.onEvent ?? (() => {});
    const top = await source.resolve(signal);
    emit({ type: 'resolved', source: source.name, digest: top.digest, mediaType: top.mediaType });
    let indexDigest: Digest | undefined;
    let manifest = top;
    if (isIndexDocument(top.bytes, top.mediaType, `${source.name} (${top.digest})`)) {
      const entry = selectPlatform(parseIndex(top.bytes, source.name), req.platform, source.name);
      indexDigest = top.digest;
      manifest = await source.manifest(entry.digest as Digest, signal);
      if (isIndexDocument(manifest.bytes, manifest.mediaType, `${source.name} (${manifest.digest})`)) {
        throw invalid(
          `${source.name}: index entry ${entry.digest} is itself an index; nested indexes are not supported`,
        );
      }
      await this.deps.content.put(top.digest, top.bytes);
    }
    const what = `${source.name} manifest ${manifest.digest}`;
    const parsed = parseManifest(manifest.bytes, what);
    await this.deps.content.ingest(
      parsed.config.digest,
      parsed.config.size,
      (o, s) => source.blob(parsed.config.digest, o, s),
      { ...(signal ? { signal } : {}) },
    );
    const config = parseImageConfig(await this.deps.content.read(parsed.config.digest), `${what} config`);
    if (config.diffIds.length !== parsed.layers.length) {
      throw invalid(`${what}: ${parsed.layers.length} layers but the config lists ${config.diffIds.length} diff_ids`);
    }
    const platform = formatPlatform({
      architecture: config.architecture,
      ...(config.variant ? { variant: config.variant } : {}),
    });
    emit({ type: 'platform', platform, digest: manifest.digest });
    const missing = await Promise.all(
      parsed.layers.map(async (l) => ((await this.deps.content.has(l.digest)) ? 0 : l.size)),
    );
    await this.checkFreeSpace(
      missing.reduce((a, b) => a + b, 0),
      source.name,
    );

    for (const l of parsed.layers) emit({ type: 'layer', digest: l.digest, size: l.size, status: 'waiting' });
    const totals = { downloaded: 0, resumed: 0 };
    const snapshotSizes = new Map<Digest, number>();
    // One failed layer fails the pull: stop the others instead of downloading on over a metered link,
    // and wait for them to clean up before answering.
    const layersAbort = new AbortController();
    const onOuterAbort = () => layersAbort.abort(signal?.reason);
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    const results = await Promise.allSettled(
      parsed.layers.map((layer, i) =>
        this.limit.run(async () => {
          layersAbort.signal.throwIfAborted();
          const diffId = config.diffIds[i] as Digest;
          const got = await this.layers.run(source, layer, diffId, emit, layersAbort.signal).catch((e: unknown) => {
            layersAbort.abort(e);
            throw e;
          });
          totals.downloaded += got.downloaded;
          totals.resumed += got.resumed;
          snapshotSizes.set(diffId, got.unpacked);
        }),
      ),
    );
    signal?.removeEventListener('abort', onOuterAbort);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw layersAbort.signal.reason ?? failed.reason;
    await this.deps.content.put(manifest.digest, manifest.bytes);
    const layers: LayerRecord[] = parsed.layers.map((l, i) => ({
      blobDigest: l.digest,
      diffId: config.diffIds[i] as Digest,
      mediaType: l.mediaType,
      size: l.size,
    }));
    const pulledAt = (this.deps.now?.() ?? new Date()).toISOString();
    const record = {
      ref: req.ref,
      manifestDigest: manifest.digest,
      ...(indexDigest ? { indexDigest } : {}),
      configDigest: parsed.config.digest,
      platform,
      size: layers.reduce((n, l) => n + l.size, 0),
      unpackedSize: [...snapshotSizes.values()].reduce((a, b) => a + b, 0),
      pulledAt,
      layers,
    };
    this.deps.records.save(record, snapshotSizes, req.retiredRef);
    const summary: ImageSummary = {
      ref: req.ref,
      digest: manifest.digest,
      platform,
      size: record.size,
      unpackedSize: record.unpackedSize,
      layers: layers.length,
      pulledAt,
      ...totals,
    };
    emit({ type: 'done', image: summary });
    return summary;
  }

  private async freeBytes(): Promise<number> {
    const s = await statfs(this.deps.snapshotsDir);
    return s.bavail * s.bsize;
  }

  /** Before downloading: the compressed layers must fit above the profile's minimum free space. */
  private async checkFreeSpace(needed: number, what: string): Promise<void> {
    const free = await this.freeBytes();
    if (free - needed < this.deps.minFreeBytes) {
      const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
      throw failedPrecondition(
        `not enough disk for ${what}: its layers need ${mib(needed)}, ${mib(free)} is free and the profile keeps ${mib(this.deps.minFreeBytes)} free`,
      );
    }
  }
}
