import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { errnoCode, failedPrecondition } from '../errors.js';
import type { ByteRateLimiter } from './content/limits.js';
import type { ContentStore, IngestOptions } from './content/store.js';
import { type Digest, digestHex } from './digest.js';
import type { Descriptor } from './manifest.js';
import type { PullEvent, UnpackPort } from './ports.js';
import type { ImageSource } from './sources/source.js';

const exec = promisify(execFile);

export interface LayerPipelineDeps {
  content: ContentStore;
  unpack: UnpackPort;
  snapshotsDir: string;
  minFreeBytes: number;
  limiter?: ByteRateLimiter;
}

export interface LayerOutcome {
  downloaded: number;
  resumed: number;
  /** Bytes the unpacked snapshot holds (0 when it was already there). */
  unpacked: number;
}

/**
 * One layer from source to snapshot. A fresh download is unpacked *while* it
 * downloads (the bytes are teed to the unpacker as they reach the disk), so
 * a pull costs about max(download, unpack) instead of their sum. A download
 * that resumes an earlier partial, or whose source ignores Range, is
 * unpacked from the store once complete. Either way the snapshot is renamed
 * into place only after the blob digest and the diff_id both check out.
 */
export class LayerPipeline {
  constructor(private readonly deps: LayerPipelineDeps) {}

  /** Work on one blob digest, in call order: a layer two pulls share (or a manifest repeats) is fetched once. */
  private readonly turns = new Map<string, Promise<unknown>>();

  run(
    source: ImageSource,
    layer: Descriptor,
    diffId: Digest,
    emit: (e: PullEvent) => void,
    signal?: AbortSignal,
  ): Promise<LayerOutcome> {
    const before = this.turns.get(layer.digest) ?? Promise.resolve();
    // The second in line finds the blob committed and takes the cached path.
    const turn = before.catch(() => undefined).then(() => this.runOnce(source, layer, diffId, emit, signal));
    this.turns.set(layer.digest, turn);
    const cleanup = () => {
      if (this.turns.get(layer.digest) === turn) this.turns.delete(layer.digest);
    };
    turn.then(cleanup, cleanup);
    return turn;
  }

  private async runOnce(
    source: ImageSource,
    layer: Descriptor,
    diffId: Digest,
    emit: (e: PullEvent) => void,
    signal?: AbortSignal,
  ): Promise<LayerOutcome> {
    const dest = path.join(this.deps.snapshotsDir, digestHex(diffId));
    const haveBlob = await this.deps.content.has(layer.digest);
    const haveSnapshot = await exists(dest);
    const status = (s: Extract<PullEvent, { type: 'layer' }>['status'], have?: number) =>
      emit({
        type: 'layer',
        digest: layer.digest,
        size: layer.size,
        status: s,
        ...(have === undefined ? {} : { have }),
      });
    if (haveBlob) {
      status('cached');
      const unpacked = haveSnapshot ? 0 : await this.unpack(layer, diffId, dest, 'store', status, signal);
      status('done');
      return { downloaded: 0, resumed: 0, unpacked };
    }
    if (haveSnapshot || (await this.deps.content.partialSize(layer.digest)) > 0) {
      const got = await this.download(source, layer, status, {}, signal);
      const unpacked = haveSnapshot ? 0 : await this.unpack(layer, diffId, dest, 'store', status, signal);
      status('done');
      return { ...got, unpacked };
    }
    return this.downloadWhileUnpacking(source, layer, diffId, dest, status, signal);
  }

  private async downloadWhileUnpacking(
    source: ImageSource,
    layer: Descriptor,
    diffId: Digest,
    dest: string,
    status: (s: Extract<PullEvent, { type: 'layer' }>['status'], have?: number) => void,
    signal?: AbortSignal,
  ): Promise<LayerOutcome> {
    // 1 MiB of slack between download and unpack; beyond that the download waits.
    const tee = new PassThrough({ highWaterMark: 1 << 20 });
    let teeBroken = false;
    let restarted = false;
    // Destroy with an error: an unpacker reading a stream that just closes would wait for more forever.
    const stopFeeding = () => {
      teeBroken = true;
      if (!tee.destroyed) tee.destroy(new Error('download stopped feeding the unpack'));
    };
    const unpacking = this.unpack(layer, diffId, dest, tee, () => {}, signal);
    // A failed unpack stops the feeding but not the download: the blob's own
    // digest decides which error is the true one (a tampered blob also breaks
    // its gzip stream, and "digest mismatch" is the message that helps).
    unpacking.catch(stopFeeding);
    let got: { downloaded: number; resumed: number };
    try {
      got = await this.download(
        source,
        layer,
        status,
        {
          onData: async (chunk) => {
            // The unpacker destroys its input when it fails; from then on there is nobody to feed.
            if (teeBroken || tee.destroyed) return;
            if (!tee.write(chunk) && !tee.destroyed) await drainedOrClosed(tee);
          },
          onRestart: () => {
            restarted = true;
            stopFeeding();
          },
        },
        signal,
      );
    } catch (e) {
      stopFeeding();
      await unpacking.catch(() => undefined);
      throw e;
    }
    let unpacked: number;
    if (restarted) {
      // The source sent the blob again from byte 0, so the streaming unpack saw bytes twice: redo it from the verified blob.
      await unpacking.catch(() => undefined);
      unpacked = await this.unpack(layer, diffId, dest, 'store', status, signal);
    } else if (teeBroken) {
      unpacked = await unpacking; // the blob is good, so the unpack's own failure is the error
    } else {
      status('unpacking');
      tee.end();
      unpacked = await unpacking;
    }
    status('done');
    return { ...got, unpacked };
  }

  private async download(
    source: ImageSource,
    layer: Descriptor,
    status: (s: Extract<PullEvent, { type: 'layer' }>['status'], have?: number) => void,
    extra: Pick<IngestOptions, 'onData' | 'onRestart'>,
    signal?: AbortSignal,
  ): Promise<{ downloaded: number; resumed: number }> {
    let lastEmit = 0;
    const result = await this.deps.content.ingest(layer.digest, layer.size, (o, s) => source.blob(layer.digest, o, s), {
      ...extra,
      ...(signal ? { signal } : {}),
      ...(this.deps.limiter ? { limiter: this.deps.limiter } : {}),
      onProgress: (have, size) => {
        const now = Date.now();
        // At most ~10 progress events a second per layer: enough for a bar, cheap on the socket.
        if (now - lastEmit >= 100 || have === size) {
          lastEmit = now;
          status('downloading', have);
        }
      },
    });
    status('downloaded', layer.size);
    return result;
  }

  /**
   * Unpack into a private temp dir, then rename into place: a snapshot
   * directory exists only when complete. The files are flushed (syncfs)
   * before the rename and the directory after it, so a snapshot that exists
   * after a power cut has its contents too. `input` is a stream being fed
   * (the tee) or 'store' to read the committed blob.
   */
  private async unpack(
    layer: Descriptor,
    diffId: Digest,
    dest: string,
    input: Readable | 'store',
    status: (s: Extract<PullEvent, { type: 'layer' }>['status']) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    // Until the unpacker reads it, nothing else listens: an early error must not become an uncaught 'error' event.
    const fed = input === 'store' ? undefined : input;
    fed?.on('error', () => {});
    status('unpacking');
    const tmp = path.join(
      this.deps.snapshotsDir,
      `.tmp-${digestHex(diffId).slice(0, 16)}-${randomBytes(4).toString('hex')}`,
    );
    let maxBytes = 0;
    try {
      await mkdir(tmp, { recursive: true, mode: 0o755 });
      const fs = await statfs(this.deps.snapshotsDir);
      maxBytes = Math.max(0, fs.bavail * fs.bsize - this.deps.minFreeBytes);
      const source = fed ?? this.deps.content.readStream(layer.digest);
      source.on('error', () => {});
      const result = await this.deps.unpack({
        source,
        mediaType: layer.mediaType,
        target: tmp,
        mode: 'overlay',
        expectedDiffId: diffId,
        maxBytes,
        ...(signal ? { signal } : {}),
      });
      await exec('sync', ['-f', tmp], { timeout: 60_000 });
      await rename(tmp, dest).catch(async (e: unknown) => {
        // Another pull committed the same layer meanwhile: theirs is as good as ours.
        if (!(await exists(dest))) throw e;
        await rm(tmp, { recursive: true, force: true });
      });
      await fsyncDir(this.deps.snapshotsDir);
      return result.bytes;
    } catch (e) {
      fed?.destroy();
      await rm(tmp, { recursive: true, force: true });
      // The unpacker names the byte limit it hit; that limit is the disk space we allowed it.
      const hitLimit = e instanceof Error && e.message.includes(`${maxBytes}-byte limit`);
      if (hitLimit || errnoCode(e) === 'ENOSPC' || errnoCode((e as { cause?: unknown }).cause) === 'ENOSPC') {
        throw failedPrecondition(
          `not enough disk space to unpack layer ${layer.digest}: ${Math.floor(maxBytes / 1048576)} MiB free above the profile's minimum of ${Math.floor(this.deps.minFreeBytes / 1048576)} MiB`,
          { cause: e },
        );
      }
      throw e;
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Resolves on 'drain' or 'close', whichever comes first; never rejects (an 'error' is followed by 'close'). */
function drainedOrClosed(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
