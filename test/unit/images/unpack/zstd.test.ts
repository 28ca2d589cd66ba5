import { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { MAX_ZSTD_WINDOW, ZstdFrameScanner, zstdDecompress } from '../../../../agent/src/images/unpack/zstd.js';

const test = suite('unpack: zstd frame scanner');

/** Hand-made zstd frames (RFC 8878): raw and RLE blocks need no entropy coder, so tests can write them. */
type Block = { raw: Buffer } | { rle: number; size: number };

function frame(blocks: Block[], opts: { windowDescriptor?: number; checksum?: boolean; fcs?: number } = {}): Buffer {
  const single = opts.fcs !== undefined;
  const fhd = (opts.checksum ? 0x04 : 0) | (single ? 0x20 : 0); // FCS flag 0: a 1-byte size when single
  const head = [0x28, 0xb5, 0x2f, 0xfd, fhd];
  if (single) head.push(opts.fcs as number);
  else head.push(opts.windowDescriptor ?? 0x38); // 2^17 = 128 KiB window
  const parts: Buffer[] = [Buffer.from(head)];
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1 ? 1 : 0;
    const [type, size, payload]: [number, number, Buffer] =
      'raw' in b ? [0, b.raw.length, b.raw] : [1, b.size, Buffer.from([b.rle])];
    const h = (size << 3) | (type << 1) | last;
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), payload);
  });
  if (opts.checksum) parts.push(Buffer.from([1, 2, 3, 4])); // fzstd does not verify it
  return Buffer.concat(parts);
}

const skippable = (data: Buffer) => {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(0x184d2a53, 0);
  h.writeUInt32LE(data.length, 4);
  return Buffer.concat([h, data]);
};

function scanAll(input: Buffer, chunk: number): Uint8Array[] {
  const s = new ZstdFrameScanner();
  const pieces: Uint8Array[] = [];
  for (let o = 0; o < input.length; o += chunk) pieces.push(...s.split(input.subarray(o, o + chunk)));
  s.end();
  return pieces;
}

function throwsInvalid(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'), `expected an invalid error, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}

async function decompressAll(input: Buffer, chunk = input.length): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for (let o = 0; o < input.length; o += chunk) parts.push(input.subarray(o, o + chunk));
  const out: Buffer[] = [];
  for await (const c of zstdDecompress(Readable.from(parts))) out.push(c);
  return out;
}

const sample = Buffer.concat([
  frame([{ raw: Buffer.from('hello ') }, { rle: 0x78, size: 5 }, { raw: Buffer.from(' world') }], { checksum: true }),
  skippable(Buffer.from('metadata')),
  frame([{ raw: Buffer.from('!') }], { fcs: 1 }),
]);

test('the stream is cut after every block, whatever the chunking', () => {
  for (let chunk = 1; chunk <= sample.length; chunk++) {
    const pieces = scanAll(sample, chunk);
    assert.equal(Buffer.concat(pieces), sample, `chunk ${chunk}: pieces rebuild the input`);
  }
  // In one chunk: one piece per block (4); the checksum, the skippable frame and the next frame's
  // header ride in the piece of the block that follows them.
  assert.is(scanAll(sample, sample.length).length, 4);
});

test('windows above the limit are refused from the frame header, before any allocation', () => {
  throwsInvalid(
    () => scanAll(frame([{ raw: Buffer.from('x') }], { windowDescriptor: 0x80 }), 1),
    /64 MiB window; the limit is 32 MiB/,
  );
  // Single-segment frames: the window is the content size (here 2^40 bytes, declared in an 8-byte field).
  const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0]);
  throwsInvalid(() => new ZstdFrameScanner().split(huge), /window; the limit/);
  assert.is(MAX_ZSTD_WINDOW, 32 * 1024 * 1024);
});

test('truncated, empty and foreign streams are refused', () => {
  throwsInvalid(() => scanAll(sample.subarray(0, sample.length - 3), 7), /truncated/);
  throwsInvalid(() => scanAll(Buffer.alloc(0), 1), /empty/);
  throwsInvalid(() => scanAll(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x20]), 4), /bad frame magic 0x88b1f/);
});

test('reserved bits, reserved block types and oversized blocks are refused', () => {
  const f = frame([{ raw: Buffer.from('abc') }]);
  const reservedBit = Buffer.from(f);
  reservedBit[4] = 0x08;
  throwsInvalid(() => scanAll(reservedBit, 64), /reserved frame header bit/);
  const badType = Buffer.from(f);
  badType[6] = (badType[6] as number) | 0x06; // block type 3
  throwsInvalid(() => scanAll(badType, 64), /reserved block type/);
  const big = frame([{ rle: 0, size: 128 * 1024 + 1 }], { windowDescriptor: 0x58 });
  throwsInvalid(() => scanAll(big, 64), /exceeds the maximum/);
  // A block may not exceed the window either (here a 1 KiB window).
  throwsInvalid(() => scanAll(frame([{ rle: 0, size: 2048 }], { windowDescriptor: 0x00 }), 64), /exceeds the maximum/);
});

test('fzstd decodes hand-made frames fed in any chunking', async () => {
  for (const chunk of [1, 2, 5, 13, sample.length]) {
    assert.is(Buffer.concat(await decompressAll(sample, chunk)).toString(), 'hello xxxxx world!', `chunk ${chunk}`);
  }
});

test('an RLE bomb comes out one block at a time, not all at once', async () => {
  const blocks: Block[] = Array.from({ length: 64 }, () => ({ rle: 0x41, size: 128 * 1024 }));
  const bomb = frame(blocks); // ~260 bytes in, 8 MiB out
  assert.ok(bomb.length < 300);
  const out = await decompressAll(bomb);
  assert.is(
    out.reduce((n, c) => n + c.length, 0),
    64 * 128 * 1024,
  );
  assert.ok(Math.max(...out.map((c) => c.length)) <= 128 * 1024, 'no chunk larger than a block');
});

test('garbage inside a valid frame structure is an invalid error, not a crash', async () => {
  // A "compressed" block (type 2) full of junk: the structure scans, fzstd must refuse the content.
  const junk = Buffer.concat([
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]),
    Buffer.from([(40 << 3) | (2 << 1) | 1, 0, 0]),
    Buffer.alloc(40, 0xff),
  ]);
  try {
    await decompressAll(junk);
    assert.unreachable('junk decoded');
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match((e as Error).message, /zstd/);
  }
});

test.run();
