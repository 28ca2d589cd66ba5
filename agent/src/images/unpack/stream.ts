import type { Hash } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { errnoCode, internal, invalid, isGantryError, messageOf } from '../../errors.js';
import type { LayerCompression } from '../media-types.js';
import type { TarHeader } from './pax.js';
import { zstdDecompress } from './zstd.js';

/**
 * The byte pipeline: layer blob -> decompress -> sha256 (the diff_id is the
 * digest of the *uncompressed* tar, image-spec "Image Configuration",
 * rootfs.diff_ids) -> tar entries. Everything is pull-based: the tar parser
 * asks for bytes only when the entry handler has written the previous ones,
 * so memory stays at a few chunks whatever the layer's size or ratio.
 */

/** The uncompressed tar bytes of `source`, each hashed into `hash` on the way. */
export async function* tarBytes(source: Readable, compression: LayerCompression, hash: Hash): AsyncGenerator<Buffer> {
  let stream: AsyncIterable<Uint8Array>;
  if (compression === 'gzip') {
    // pipeline() forwards a source error into the gunzip stream and destroys both on failure.
    // 256 KiB output chunks (zlib's default is 16 KiB): every chunk costs a trip through the tar
    // parser and a write, and big chunks made a 100 MB layer unpack ~3x faster here.
    stream = pipeline(source, createGunzip({ chunkSize: 256 * 1024 }), () => {});
  } else if (compression === 'zstd') {
    stream = zstdDecompress(source);
  } else {
    stream = source;
  }
  try {
    for await (const chunk of stream) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      yield buf;
    }
  } catch (e) {
    if (isGantryError(e)) throw e;
    if (compression === 'gzip' && errnoCode(e)?.startsWith('Z_')) {
      throw invalid(`layer gzip stream is corrupt or truncated: ${messageOf(e)}`, { cause: e });
    }
    // Not the layer's fault: the blob could not be read (missing file, I/O error).
    throw internal(`reading the layer blob failed: ${messageOf(e)}`, { cause: e });
  } finally {
    source.destroy();
  }
}

export type EntryHandler = (header: TarHeader, body: AsyncIterable<Buffer>) => Promise<void>;

/**
 * Parse `bytes` (read from `source`) as a tar and call `onEntry` for each
 * entry, one at a time. The handler may read the body or not; what it leaves
 * is drained here. Rejects (never hangs, never leaves an unhandled 'error')
 * when the bytes, the tar or the handler fail, or when `signal` aborts; on
 * failure `source` is destroyed, which unblocks a feeder waiting on it.
 */
export async function forEachEntry(
  source: Readable,
  bytes: AsyncGenerator<Buffer>,
  onEntry: EntryHandler,
  signal?: AbortSignal,
): Promise<void> {
  const ex = extract();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  let parserError: unknown;
  ex.on('error', (e: unknown) => {
    parserError = e;
  });
  const feeding = feed(bytes, ex).catch((e: unknown) => {
    fail(e);
    ex.destroy(e instanceof Error ? e : new Error(String(e)));
  });
  const onAbort = () => ex.destroy(new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  let current = '';
  try {
    for await (const entry of ex) {
      signal?.throwIfAborted();
      current = entry.header.name;
      try {
        await onEntry(toTarHeader(entry.header), bufferChunks(entry));
      } catch (e) {
        if (!(e instanceof BodyReadError)) fail(e);
        throw e;
      }
      for await (const _ of entry) {
        // drain what the handler did not read
      }
    }
  } catch (e) {
    // The first failure wins: a feeder error reaches this loop as the
    // parser's destruction, and a handler error makes the feeder fail once
    // the source is destroyed. Anything else is the tar parser's complaint,
    // whose 'error' event may lag a tick behind a broken-off entry body.
    await new Promise((resolve) => setImmediate(resolve));
    fail(tarError(e, parserError, current));
    ex.destroy(null);
    source.destroy();
    await feeding;
    signal?.throwIfAborted();
    throw failure?.error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  await feeding;
  if (failure) throw failure.error;
}

/** The parser's complaint as an `invalid` error, naming the entry whose body broke off if one did. */
function tarError(e: unknown, parserError: unknown, entry: string): Error {
  const body = e instanceof BodyReadError;
  const why = messageOf(parserError ?? (body ? e.cause : e));
  return invalid(`layer is not a valid tar: ${why}${body ? ` (inside entry ${JSON.stringify(entry)})` : ''}`, {
    cause: e,
  });
}

/** Reading an entry's body failed: the tar (or the bytes under it) broke off, not the handler. */
export class BodyReadError extends Error {
  constructor(cause: unknown) {
    super(`tar entry body: ${messageOf(cause)}`, { cause });
    this.name = 'BodyReadError';
  }
}

function toTarHeader(h: Header): TarHeader {
  let pax: Record<string, string> | null = null;
  if (typeof h.pax === 'object' && h.pax !== null) {
    pax = {};
    for (const [k, v] of Object.entries(h.pax)) if (typeof v === 'string') pax[k] = v;
  }
  return { ...h, pax };
}

/** tar-stream's entry streams are streamx Readables, typed as yielding unknown; they yield Buffers. */
async function* bufferChunks(src: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<unknown>;
    try {
      next = await it.next();
    } catch (e) {
      throw new BodyReadError(e);
    }
    if (next.done) return;
    const chunk = next.value;
    if (Buffer.isBuffer(chunk)) yield chunk;
    else if (chunk instanceof Uint8Array) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else throw new BodyReadError(new TypeError('tar entry yielded a non-binary chunk'));
  }
}

/** Write every chunk into the tar parser, waiting for it to drain; end it when the bytes end. */
async function feed(bytes: AsyncGenerator<Buffer>, ex: ReturnType<typeof extract>): Promise<void> {
  for await (const chunk of bytes) {
    if (ex.destroyed) return;
    if (!ex.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          ex.off('drain', done);
          ex.off('close', done);
          resolve();
        };
        ex.on('drain', done);
        ex.on('close', done);
      });
    }
  }
  if (!ex.destroyed) ex.end(null);
}
