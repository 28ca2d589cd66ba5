import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PullSettings } from '../config/agent-config.js';
import { failedPrecondition, invalid, notFound } from '../errors.js';
import { formatPlatform, type OciPlatform } from '../host/platform.js';
import type { Db } from '../state/database.js';
import { ContentStore } from './content/store.js';
import { type Digest, isDigest } from './digest.js';
import { type ImageRecord, ImageRecords } from './image-records.js';
import { parseImageConfig } from './manifest.js';
import type { ImageSummary, ImageUsage, PullEvent, RegistryPort, UnpackPort } from './ports.js';
import { Puller } from './puller.js';
import { formatReference, parseReference } from './reference.js';
import { ociLayoutSource } from './sources/oci-layout-source.js';
import { registrySource } from './sources/registry-source.js';
import type { ImageSource } from './sources/source.js';

export interface ImageServiceDeps {
  /** DATA/images */
  root: string;
  db: Db;
  registry: RegistryPort;
  unpack: UnpackPort;
  usage: ImageUsage;
  hostPlatform: OciPlatform;
  minFreeBytes: number;
  pull?: PullSettings;
  log: Logger;
}

export interface PruneReport {
  blobs: number;
  snapshots: number;
  partials: number;
  bytes: number;
}

/** A partial download untouched this long belongs to a pull nobody will resume. */
const STALE_INGEST_MS = 7 * 24 * 3600 * 1000;

/** The image store's public surface: pull, list, remove, prune. */
export class ImageService {
  private readonly content: ContentStore;
  private readonly records: ImageRecords;
  private readonly puller: Puller;
  private readonly snapshotsDir: string;
  /** Pulls in progress: their blobs and snapshots are committed before their record, so GC must not run meanwhile. */
  private activePulls = 0;

  constructor(private readonly deps: ImageServiceDeps) {
    this.content = new ContentStore(deps.root);
    this.records = new ImageRecords(deps.db);
    this.snapshotsDir = path.join(deps.root, 'snapshots');
    this.puller = new Puller({
      content: this.content,
      records: this.records,
      unpack: deps.unpack,
      snapshotsDir: this.snapshotsDir,
      minFreeBytes: deps.minFreeBytes,
      ...(deps.pull?.concurrency ? { concurrency: deps.pull.concurrency } : {}),
      ...(deps.pull?.bandwidthBytesPerSec ? { bandwidthBytesPerSec: deps.pull.bandwidthBytesPerSec } : {}),
    });
  }

  /** Create the store and clear what a crash left half-done (unpacks in progress; partial downloads stay for resume). */
  async init(): Promise<void> {
    await this.content.init();
    await mkdir(this.snapshotsDir, { recursive: true });
    for (const name of await readdir(this.snapshotsDir)) {
      if (name.startsWith('.tmp-')) {
        await rm(path.join(this.snapshotsDir, name), { recursive: true, force: true });
        this.deps.log.info({ dir: name }, 'removed an unpack a crash left unfinished');
      }
    }
  }

  snapshotPath(diffId: Digest): string {
    return path.join(this.snapshotsDir, diffId.slice(7));
  }

  async pull(
    refText: string,
    opts: { platform?: OciPlatform; signal?: AbortSignal; onEvent?: (e: PullEvent) => void } = {},
  ): Promise<ImageSummary> {
    const ref = parseReference(refText);
    let source: ImageSource;
    if (ref.kind === 'registry') source = registrySource(this.deps.registry, ref);
    else
      source = ociLayoutSource(ref.kind, ref.path, {
        ...(ref.tag ? { tag: ref.tag } : {}),
        ...(ref.digest ? { digest: ref.digest } : {}),
      });
    const platform = opts.platform ?? this.deps.hostPlatform;
    this.deps.log.info({ ref: formatReference(ref), platform: formatPlatform(platform) }, 'pull started');
    const started = Date.now();
    const { tag: _tag, ...untagged } = ref;
    this.activePulls++;
    const summary = await this.puller
      .pull({
        retiredRef: (oldDigest) => formatReference({ ...untagged, digest: oldDigest as Digest }),
        ref: formatReference(ref),
        source,
        platform,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      })
      .finally(() => {
        this.activePulls--;
      });
    this.deps.log.info(
      {
        ref: summary.ref,
        digest: summary.digest,
        ms: Date.now() - started,
        downloaded: summary.downloaded,
        resumed: summary.resumed,
      },
      'pull done',
    );
    return summary;
  }

  /** What the runtime needs to run an image: its layers' diff_ids (bottom first) and its runtime config. */
  async lookup(
    refText: string,
  ): Promise<{ ref: string; manifestDigest: string; diffIds: string[]; config: Record<string, unknown> }> {
    const image = this.get(refText);
    const config = parseImageConfig(await this.content.read(image.configDigest), `config of ${image.ref}`);
    return {
      ref: image.ref,
      manifestDigest: image.manifestDigest,
      diffIds: image.layers.map((l) => l.diffId),
      config: config.config,
    };
  }

  list(): ImageSummary[] {
    return this.records.list().map(summaryOf);
  }

  get(refText: string): ImageRecord {
    const found = this.find(refText);
    if (found.length === 0) throw notFound(`no image ${refText}`);
    if (found.length > 1) throw invalid(`${refText} matches several images: ${found.map((r) => r.ref).join(', ')}`);
    return found[0] as ImageRecord;
  }

  /** Remove an image (not one an app uses), then free whatever nothing references any more. */
  async remove(refText: string): Promise<{ removed: string; pruned: PruneReport }> {
    const image = this.get(refText);
    if (this.deps.usage.inUse().has(image.manifestDigest)) {
      throw failedPrecondition(`image ${image.ref} is used by an app; remove the app from the deployment first`);
    }
    this.records.remove(image.ref);
    const pruned = this.activePulls > 0 ? { blobs: 0, snapshots: 0, partials: 0, bytes: 0 } : await this.collect();
    return { removed: image.ref, pruned };
  }

  /** `gantry image prune`: drop images kept only because their tag moved on (once no app runs them), then collect. */
  async prune(): Promise<PruneReport> {
    if (this.activePulls > 0)
      throw failedPrecondition(`${this.activePulls} pull(s) in progress; prune when they finish`);
    const inUse = this.deps.usage.inUse();
    for (const ref of this.records.retired()) {
      if (!inUse.has(this.records.get(ref)?.manifestDigest ?? '')) this.records.remove(ref);
    }
    return this.collect();
  }

  /** Delete blobs and snapshots no image record references, and stale partial downloads. */
  private async collect(): Promise<PruneReport> {
    const inUse = this.deps.usage.inUse();
    const { blobs, snapshots } = this.records.referenced();
    if (![...inUse].every((d) => blobs.has(d))) {
      // An app runs an image no record describes any more: its layers cannot be told apart, so keep everything.
      throw failedPrecondition(
        'an image in use by an app has no record; not pruning (pull it again or remove the app)',
      );
    }
    const report: PruneReport = { blobs: 0, snapshots: 0, partials: 0, bytes: 0 };
    for (const b of await this.content.list()) {
      if (blobs.has(b.digest)) continue;
      await this.content.delete(b.digest);
      report.blobs++;
      report.bytes += b.size;
    }
    for (const name of await readdir(this.snapshotsDir)) {
      const diffId = `sha256:${name}`;
      if (!isDigest(diffId) || snapshots.has(diffId)) continue;
      const dir = path.join(this.snapshotsDir, name);
      report.bytes += await treeSize(dir);
      await rm(dir, { recursive: true, force: true });
      this.records.forgetSnapshot(diffId);
      report.snapshots++;
    }
    report.partials = await this.content.pruneIngest(STALE_INGEST_MS);
    this.deps.log.info(report, 'image store pruned');
    return report;
  }

  /** By canonical reference, by what the user typed (normalised), or by manifest digest (prefix of at least 12 hex). */
  private find(refText: string): ImageRecord[] {
    const exact = this.records.get(refText);
    if (exact) return [exact];
    const hex = refText.replace(/^sha256:/, '');
    if (/^[a-f0-9]{12,64}$/.test(hex)) {
      const found = this.records.findByDigestPrefix(`sha256:${hex}`);
      // Several references to one manifest are one image.
      return new Set(found.map((r) => r.manifestDigest)).size === 1 ? found.slice(0, 1) : found;
    }
    try {
      const normal = this.records.get(formatReference(parseReference(refText)));
      return normal ? [normal] : [];
    } catch {
      return [];
    }
  }
}

function summaryOf(r: ImageRecord): ImageSummary {
  return {
    ref: r.ref,
    digest: r.manifestDigest,
    platform: r.platform,
    size: r.size,
    unpackedSize: r.unpackedSize,
    layers: r.layers.length,
    pulledAt: r.pulledAt,
  };
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}
