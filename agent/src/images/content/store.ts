import { createHash, type Hash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errnoCode, failedPrecondition, invalid, isGantryError } from '../../errors.js';
import { type Digest, digestHex, isDigest } from '../digest.js';
import type { ByteRateLimiter } from './limits.js';

/** Where a blob's bytes come from; `offset` is where the returned body starts (0 if the source ignored the range). */
export type BlobFetcher = (offset: number, signal?: AbortSignal) => Promise<{ body: Readable; offset: number }>;

export interface IngestOptions {
  signal?: AbortSignal;
  limiter?: ByteRateLimiter;
  /** Called as bytes arrive: bytes held so far (including resumed ones) of `size`. */
  onProgress?: (have: number, size: number) => void;
  /**
   * Every newly appended chunk, in blob order, after it is on disk; awaited,
   * so a slow consumer (an unpack fed while downloading) slows the download
   * instead of piling chunks up in memory.
   */
  onData?: (chunk: Buffer) => Promise<void> | void;
  /** The source ignored a Range request and the blob restarts from byte 0: chunks already given to onData repeat. */
  onRestart?: () => void;
  /** Attempts at resuming a body that broke off mid-way (default 5). */
  attempts?: number;
}

export interface IngestResult {
  /** Bytes that had to be downloaded this time (0 when the blob was already there). */
  downloaded: number;
  /** Bytes found in the ingest area from an earlier, interrupted attempt. */
  resumed: number;
}

/**
 * Content-addressed blob store (after containerd's content store):
 *   blobs/sha256/<hex>   committed, verified blobs; immutable
 *   ingest/<hex>         partial downloads, kept across crashes for Range resume
 * Nothing is visible under blobs/ until it is complete and verified: commit is
 * verify -> fsync -> rename -> fsync(dir).
 */
export class ContentStore {
  private readonly inflight = new Map<string, Promise<IngestResult>>();

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await mkdir(path.join(this.root, 'blobs', 'sha256'), { recursive: true });
    await mkdir(path.join(this.root, 'ingest'), { recursive: true });
  }

  blobPath(digest: Digest): string {
    return path.join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  private ingestPath(digest: Digest): string {
    return path.join(this.root, 'ingest', digestHex(digest));
  }

  /** Bytes an interrupted download of `digest` left in the ingest area (0 if none). */
  async partialSize(digest: Digest): Promise<number> {
    return (await stat(this.ingestPath(digest)).catch(() => undefined))?.size ?? 0;
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  read(digest: Digest): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  readStream(digest: Digest): Readable {
    return createReadStream(this.blobPath(digest));
  }

  /** Store bytes already in memory (manifests, configs), verifying the digest. */
  async put(digest: Digest, data: Buffer): Promise<void> {
    if (await this.has(digest)) return;
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (actual !== digest) throw invalid(`content of ${digest} hashes to ${actual}`);
    const tmp = `${this.ingestPath(digest)}.put-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.commitFile(tmp, digest).catch(async (e: unknown) => {
      await rm(tmp, { force: true });
      // A concurrent put of the same bytes won: the blob is there, which is all we wanted.
      if (!(await this.has(digest))) throw e;
    });
  }

  /**
   * Make sure `digest` (of `size` bytes) is in the store, downloading what is
   * missing. Concurrent calls for one digest share one download.
   */
  ingest(digest: Digest, size: number, fetch: BlobFetcher, opts: IngestOptions = {}): Promise<IngestResult> {
    const key = digest;
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.doIngest(digest, size, fetch, opts).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async doIngest(digest: Digest, size: number, fetch: BlobFetcher, opts: IngestOptions): Promise<IngestResult> {
    if (await this.has(digest)) return { downloaded: 0, resumed: 0 };
    const file = this.ingestPath(digest);
    let { hash, have } = await this.rehashPartial(file, size);
    const resumed = have;
    if (have === size) {
      // A crash after the last byte but before the rename: nothing to fetch (a Range from the end would get 416).
      const complete = `sha256:${hash.copy().digest('hex')}` === digest;
      if (complete) {
        await this.commitFile(file, digest);
        return { downloaded: 0, resumed };
      }
      await truncate(file, 0);
      ({ hash, have } = { hash: createHash('sha256'), have: 0 });
    }
    let downloaded = 0;
    const attempts = opts.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      let before = have;
      try {
        const { body, offset } = await fetch(have, opts.signal);
        if (offset !== have) {
          if (offset !== 0) {
            body.destroy();
            throw invalid(`source of ${digest} answered from byte ${offset}, asked for ${have}`);
          }
          // The source ignored our Range: start over rather than append a second copy.
          await truncate(file, 0).catch(() => undefined);
          opts.onRestart?.();
          hash = createHash('sha256');
          have = 0;
          before = 0;
        }
        have = await this.appendBody(file, body, hash, have, size, digest, opts);
        downloaded += have - before;
        break;
      } catch (e) {
        if (errnoCode(e) === 'ENOSPC') throw failedPrecondition(`disk full while downloading ${digest}`, { cause: e });
        if (isGantryError(e, 'invalid') || opts.signal?.aborted || attempt >= attempts) throw e;
        // A body that broke off mid-way: what arrived is on disk; resume from its end.
        ({ hash, have } = await this.rehashPartial(file, size));
        downloaded += Math.max(0, have - before);
      }
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (have !== size || actual !== digest) {
      await rm(file, { force: true });
      throw invalid(`blob ${digest}: got ${have} bytes hashing to ${actual}, expected ${size} bytes`);
    }
    await this.commitFile(file, digest);
    return { downloaded, resumed };
  }

  /** Hash what an earlier attempt left; a partial longer than the blob is garbage and goes. */
  private async rehashPartial(file: string, size: number): Promise<{ hash: Hash; have: number }> {
    const hash = createHash('sha256');
    let have = 0;
    try {
      const st = await stat(file);
      if (st.size > size) {
        await truncate(file, 0);
        return { hash, have: 0 };
      }
      for await (const chunk of createReadStream(file)) {
        hash.update(chunk as Buffer);
        have += (chunk as Buffer).length;
      }
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
    }
    return { hash, have };
  }

  private async appendBody(
    file: string,
    body: Readable,
    hash: Hash,
    start: number,
    size: number,
    digest: Digest,
    opts: IngestOptions,
  ): Promise<number> {
    const fh = await open(file, 'a', 0o644);
    let have = start;
    const onAbort = () => body.destroy(new Error('aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        if (have + buf.length > size) {
          body.destroy();
          await fh.close();
          await rm(file, { force: true });
          throw invalid(`blob ${digest} is larger than its descriptor's ${size} bytes`);
        }
        await opts.limiter?.take(buf.length);
        await fh.write(buf);
        hash.update(buf);
        have += buf.length;
        opts.onProgress?.(have, size);
        await opts.onData?.(buf);
      }
      await fh.sync();
      return have;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      await fh.close().catch(() => undefined);
    }
  }

  private async commitFile(file: string, digest: Digest): Promise<void> {
    const dest = this.blobPath(digest);
    await rename(file, dest);
    const dir = await open(path.dirname(dest), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async delete(digest: Digest): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  /** Every committed blob's digest and size. */
  async list(): Promise<Array<{ digest: Digest; size: number }>> {
    const dir = path.join(this.root, 'blobs', 'sha256');
    const out: Array<{ digest: Digest; size: number }> = [];
    for (const name of await readdir(dir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      out.push({ digest, size: (await stat(path.join(dir, name))).size });
    }
    return out;
  }

  /** Partial downloads not touched for `olderThanMs`: a pull that will never resume. */
  async pruneIngest(olderThanMs: number, now = Date.now()): Promise<number> {
    const dir = path.join(this.root, 'ingest');
    let removed = 0;
    for (const name of await readdir(dir)) {
      const file = path.join(dir, name);
      const st = await stat(file).catch(() => undefined);
      if (st && (now - st.mtimeMs > olderThanMs || name.includes('.put-'))) {
        await rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
