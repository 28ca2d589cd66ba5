import { Decompress } from 'fzstd';
import { invalid, messageOf } from '../../errors.js';

/**
 * Largest zstd window accepted, in bytes. fzstd allocates the whole window
 * up front and moves it on every block, so a frame header alone could ask
 * for ~2 GiB on a 256 MiB gateway. 32 MiB covers every level up to 19
 * (8 MiB) and `--ultra -20/-21`; `--long`/`-22` layers (128 MiB) are refused.
 */
export const MAX_ZSTD_WINDOW = 32 * 1024 * 1024;
/** RFC 8878 3.1.1.2: no block may be larger than this (compressed or not). */
const MAX_BLOCK = 128 * 1024;

const ZSTD_MAGIC = 0xfd2fb528;
const isSkippableMagic = (m: number) => m >>> 4 === 0x184d2a5;

type State = 'magic' | 'fhd' | 'frameHeader' | 'blockHeader' | 'body' | 'checksum' | 'skipSize';

/** Little-endian unsigned integer of `n` bytes at `o` (up to 8 bytes; exact up to 2^53). */
const le = (b: readonly number[], o: number, n: number): number =>
  b.slice(o, o + n).reduceRight((acc, x) => acc * 256 + x, 0);

/** RFC 8878 3.1.1.1.1: sizes of Dictionary_ID and Frame_Content_Size by flag. */
const DICT_ID_SIZE = [0, 1, 2, 4];
const fcsFieldSize = (fhd: number): number => [(fhd >> 5) & 1, 2, 4, 8][fhd >> 6] as number;
/** Bytes of the frame header after the descriptor: window descriptor, dictionary id, content size. */
const frameHeaderRest = (fhd: number): number =>
  (((fhd >> 5) & 1) === 1 ? 0 : 1) + (DICT_ID_SIZE[fhd & 3] as number) + fcsFieldSize(fhd);

/**
 * Walks the frame structure of a zstd stream (RFC 8878 section 3) without
 * decompressing it, to do two things fzstd does not:
 *  - refuse frames whose window exceeds `maxWindow` before fzstd allocates it;
 *  - cut the input after every block, so the caller can feed fzstd one block
 *    at a time and so decompressed output per push is at most one block
 *    (128 KiB) — a 4-byte RLE block would otherwise expand a 64 KiB chunk
 *    into gigabytes inside one synchronous push.
 * Pure: bytes in, pieces out.
 */
export class ZstdFrameScanner {
  private state: State = 'magic';
  private need = 4;
  private buf: number[] = [];
  private remaining = 0;
  private bodyIsBlock = false;
  private lastBlock = false;
  private checksum = false;
  private blockMax = MAX_BLOCK;
  private frames = 0;

  constructor(private readonly maxWindow = MAX_ZSTD_WINDOW) {}

  /** Split `chunk` into pieces that each end at most one block. Throws `invalid` on a malformed frame. */
  split(chunk: Uint8Array): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    let start = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, chunk.length - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0 && this.endBody()) {
          pieces.push(chunk.subarray(start, i));
          start = i;
        }
        continue;
      }
      this.buf.push(chunk[i++] as number);
      if (this.buf.length === this.need) this.step();
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start));
    return pieces;
  }

  /** Call at end of input: throws unless the stream ended on a frame boundary. */
  end(): void {
    if (this.state !== 'magic' || this.buf.length > 0)
      throw invalid('layer zstd stream is truncated (ends inside a frame)');
    if (this.frames === 0) throw invalid('layer zstd stream is empty');
  }

  private next(state: State, need: number): void {
    this.state = state;
    this.need = need;
    this.buf = [];
  }

  private body(bytes: number, isBlock: boolean): void {
    this.state = 'body';
    this.remaining = bytes;
    this.bodyIsBlock = isBlock;
    this.buf = [];
    if (bytes === 0) this.endBody();
  }

  /** A body ended; true when it was a block's (a cut point). */
  private endBody(): boolean {
    if (!this.bodyIsBlock) this.next('magic', 4);
    else if (!this.lastBlock) this.next('blockHeader', 3);
    else if (this.checksum) this.next('checksum', 4);
    else this.next('magic', 4);
    return this.bodyIsBlock;
  }

  private step(): void {
    const b = this.buf;
    switch (this.state) {
      case 'magic': {
        const magic = le(b, 0, 4);
        if (magic === ZSTD_MAGIC) this.next('fhd', 1);
        else if (isSkippableMagic(magic)) this.next('skipSize', 4);
        else throw invalid(`layer zstd stream is corrupt: bad frame magic 0x${magic.toString(16)}`);
        break;
      }
      case 'skipSize':
        this.body(le(b, 0, 4), false);
        break;
      case 'fhd': {
        const fhd = b[0] as number;
        if (fhd & 0x08) throw invalid('layer zstd stream is corrupt: reserved frame header bit set');
        this.checksum = ((fhd >> 2) & 1) === 1;
        this.state = 'frameHeader';
        this.need = 1 + frameHeaderRest(fhd); // keep the descriptor byte in buf
        if (this.need === 1) this.frameHeader();
        break;
      }
      case 'frameHeader':
        this.frameHeader();
        break;
      case 'blockHeader':
        this.blockHeader(le(b, 0, 3));
        break;
      case 'checksum':
        this.next('magic', 4);
        break;
    }
  }

  private frameHeader(): void {
    const b = this.buf;
    const fhd = b[0] as number;
    const single = (fhd >> 5) & 1;
    const dictSize = DICT_ID_SIZE[fhd & 3] as number;
    const fcsSize = fcsFieldSize(fhd);
    let o = 1;
    let window = 0;
    if (!single) {
      const wd = b[o++] as number;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    o += dictSize;
    if (single) {
      const fcs = le(b, o, fcsSize);
      window = fcsSize === 2 ? fcs + 256 : fcs;
    }
    if (window > this.maxWindow) {
      throw invalid(
        `layer zstd frame needs a ${Math.ceil(window / 1048576)} MiB window; the limit is ${this.maxWindow / 1048576} MiB`,
      );
    }
    this.blockMax = Math.min(MAX_BLOCK, Math.max(window, 1));
    this.frames++;
    this.next('blockHeader', 3);
  }

  private blockHeader(h: number): void {
    this.lastBlock = (h & 1) === 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3) throw invalid('layer zstd stream is corrupt: reserved block type');
    if (size > this.blockMax) throw invalid(`layer zstd stream is corrupt: block of ${size} bytes exceeds the maximum`);
    this.body(type === 1 ? 1 : size, true);
  }
}

/**
 * Decompress a zstd stream with fzstd, one block per push; yields the
 * decompressed bytes. Pull-based, so the consumer's pace bounds memory.
 */
export async function* zstdDecompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const scanner = new ZstdFrameScanner();
  const out: Uint8Array[] = [];
  const d = new Decompress((data) => {
    if (data.length > 0) out.push(data);
  });
  const push = (piece: Uint8Array, final: boolean) => {
    try {
      d.push(piece, final);
    } catch (e) {
      throw invalid(`layer zstd stream is corrupt: ${messageOf(e)}`, { cause: e });
    }
  };
  for await (const chunk of source) {
    for (const piece of scanner.split(chunk)) {
      push(piece, false);
      while (out.length > 0) {
        const u = out.shift() as Uint8Array;
        yield Buffer.from(u.buffer, u.byteOffset, u.byteLength);
      }
    }
  }
  scanner.end();
  push(new Uint8Array(0), true);
  for (const u of out) yield Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
