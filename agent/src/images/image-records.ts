import type { Db } from '../state/database.js';
import type { Digest } from './digest.js';

export interface LayerRecord {
  blobDigest: Digest;
  diffId: Digest;
  mediaType: string;
  size: number;
}

export interface ImageRecord {
  ref: string;
  manifestDigest: Digest;
  indexDigest?: Digest;
  configDigest: Digest;
  platform: string;
  size: number;
  unpackedSize: number;
  pulledAt: string;
  layers: LayerRecord[];
}

interface ImageRow {
  ref: string;
  manifest_digest: string;
  index_digest: string | null;
  config_digest: string;
  platform: string;
  size: number;
  unpacked_size: number;
  pulled_at: string;
}

/**
 * The image store's state in SQLite. An image row is written only after all
 * its blobs and snapshots are committed on disk, in one transaction, so a
 * half-finished pull never looks finished.
 */
export class ImageRecords {
  constructor(private readonly db: Db) {}

  /** Record a pulled image (replacing what the reference pointed at before). */
  /**
   * `retiredRef` names the image the reference pointed at before, when the
   * pull moved it (a tag pushed anew): that image stays, under its digest
   * reference (docker's "dangling" image), so a container still running it
   * keeps its layers and prune cannot take them; `gantry rmi` removes it.
   */
  save(image: ImageRecord, snapshotSizes: Map<Digest, number>, retiredRef?: (oldDigest: string) => string): void {
    this.db.transaction(() => {
      const previous = this.db.prepare('SELECT * FROM images WHERE ref = ?').get(image.ref) as ImageRow | undefined;
      this.db
        .prepare(
          `INSERT INTO images (ref, manifest_digest, index_digest, config_digest, platform, size, unpacked_size, pulled_at)
           VALUES (@ref, @manifestDigest, @indexDigest, @configDigest, @platform, @size, @unpackedSize, @pulledAt)
           ON CONFLICT(ref) DO UPDATE SET manifest_digest = excluded.manifest_digest, index_digest = excluded.index_digest,
             config_digest = excluded.config_digest, platform = excluded.platform, size = excluded.size,
             unpacked_size = excluded.unpacked_size, pulled_at = excluded.pulled_at`,
        )
        .run({ ...image, indexDigest: image.indexDigest ?? null });
      const layer = this.db.prepare(
        `INSERT OR REPLACE INTO image_layers (manifest_digest, position, blob_digest, diff_id, media_type, size)
         VALUES (?, ?, ?, ?, ?, ?)`,
      );
      image.layers.forEach((l, i) => {
        layer.run(image.manifestDigest, i, l.blobDigest, l.diffId, l.mediaType, l.size);
      });
      const snap = this.db.prepare('INSERT OR IGNORE INTO snapshots (diff_id, size, created_at) VALUES (?, ?, ?)');
      for (const [diffId, size] of snapshotSizes) snap.run(diffId, size, image.pulledAt);
      // The tag moved (a new push, or another platform): keep the old image under its digest, or let its layers go.
      if (previous && previous.manifest_digest !== image.manifestDigest) {
        const retired = retiredRef?.(previous.manifest_digest);
        if (retired) this.keepUnder(retired, previous);
        else this.dropLayersIfUnused(previous.manifest_digest);
      }
    })();
  }

  /** Keep the row a reference had before it moved, under `retired` (unless that name exists already). */
  private keepUnder(retired: string, row: ImageRow): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO images (ref, manifest_digest, index_digest, config_digest, platform, size, unpacked_size, pulled_at, retired)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`,
      )
      .run(
        retired,
        row.manifest_digest,
        row.index_digest,
        row.config_digest,
        row.platform,
        row.size,
        row.unpacked_size,
        row.pulled_at,
      );
  }

  private dropLayersIfUnused(manifestDigest: string): void {
    const stillUsed = this.db.prepare('SELECT 1 FROM images WHERE manifest_digest = ?').get(manifestDigest);
    if (!stillUsed) this.db.prepare('DELETE FROM image_layers WHERE manifest_digest = ?').run(manifestDigest);
  }

  get(ref: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM images WHERE ref = ?').get(ref) as ImageRow | undefined;
    return row ? this.withLayers(row) : undefined;
  }

  /** Images whose manifest digest starts with `prefix` (for `rmi sha256:abc...`). */
  findByDigestPrefix(prefix: string): ImageRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM images WHERE manifest_digest LIKE ? ORDER BY ref')
      .all(`${prefix}%`) as ImageRow[];
    return rows.map((r) => this.withLayers(r));
  }

  list(): ImageRecord[] {
    const rows = this.db.prepare('SELECT * FROM images ORDER BY ref').all() as ImageRow[];
    return rows.map((r) => this.withLayers(r));
  }

  remove(ref: string): boolean {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT manifest_digest FROM images WHERE ref = ?').get(ref) as
        | { manifest_digest: string }
        | undefined;
      if (!row) return false;
      this.db.prepare('DELETE FROM images WHERE ref = ?').run(ref);
      this.dropLayersIfUnused(row.manifest_digest);
      return true;
    })();
  }

  hasSnapshot(diffId: Digest): boolean {
    return this.db.prepare('SELECT 1 FROM snapshots WHERE diff_id = ?').get(diffId) !== undefined;
  }

  /** Everything an image still needs: blobs (manifests, configs, layers) and snapshots. */
  referenced(): { blobs: Set<string>; snapshots: Set<string> } {
    const blobs = new Set<string>();
    const snapshots = new Set<string>();
    for (const r of this.db
      .prepare('SELECT manifest_digest, index_digest, config_digest FROM images')
      .all() as ImageRow[]) {
      blobs.add(r.manifest_digest);
      blobs.add(r.config_digest);
      if (r.index_digest) blobs.add(r.index_digest);
    }
    for (const l of this.db.prepare('SELECT blob_digest, diff_id FROM image_layers').all() as Array<{
      blob_digest: string;
      diff_id: string;
    }>) {
      blobs.add(l.blob_digest);
      snapshots.add(l.diff_id);
    }
    return { blobs, snapshots };
  }

  /** References kept only because their tag moved on (see save). */
  retired(): string[] {
    return (
      this.db.prepare('SELECT ref FROM images WHERE retired = 1 ORDER BY ref').all() as Array<{ ref: string }>
    ).map((r) => r.ref);
  }

  forgetSnapshot(diffId: string): void {
    this.db.prepare('DELETE FROM snapshots WHERE diff_id = ?').run(diffId);
  }

  private withLayers(row: ImageRow): ImageRecord {
    const layers = (
      this.db
        .prepare(
          'SELECT blob_digest, diff_id, media_type, size FROM image_layers WHERE manifest_digest = ? ORDER BY position',
        )
        .all(row.manifest_digest) as Array<{ blob_digest: Digest; diff_id: Digest; media_type: string; size: number }>
    ).map((l) => ({ blobDigest: l.blob_digest, diffId: l.diff_id, mediaType: l.media_type, size: l.size }));
    const rec: ImageRecord = {
      ref: row.ref,
      manifestDigest: row.manifest_digest as Digest,
      configDigest: row.config_digest as Digest,
      platform: row.platform,
      size: row.size,
      unpackedSize: row.unpacked_size,
      pulledAt: row.pulled_at,
      layers,
    };
    if (row.index_digest) rec.indexDigest = row.index_digest as Digest;
    return rec;
  }
}
