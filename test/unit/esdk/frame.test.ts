import { Encoder } from 'cbor-x';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeBody,
  EsdkError,
  encodeFrame,
  FrameDecoder,
  parseRequest,
  plainDataProblem,
} from '../../../agent/src/esdk/frame.js';
import { FrameDecoder as SdkFrameDecoder, encodeFrame as sdkEncodeFrame } from '../../../sdk/src/frame.js';

const test = suite('esdk frame codec');

const frames = [
  { id: 1, method: 'app.info' },
  { id: 2, method: 'serial.transact', params: { port: 'rs485-1', data: new Uint8Array([1, 3, 0, 0, 0, 1]) } },
  { id: 3, method: 'telemetry.publish', params: { stream: 's', samples: [{ value: 1.5, ts: 1_700_000_000_123 }] } },
  { id: 4294967296, method: 'x', params: { nested: { a: [1, 'two', null, true, { b: -7 }] } } },
];

function decodeAll(bytes: Buffer, cut: number[]): unknown[] {
  const d = new FrameDecoder();
  const out: unknown[] = [];
  let at = 0;
  for (const c of [...cut, bytes.length]) {
    d.push(bytes.subarray(at, c), (item) => out.push(item));
    at = c;
  }
  assert.is(d.bufferedBytes, 0, 'nothing left over');
  return out;
}

/** Byte strings decode as Buffers: compare their contents as arrays. */
function normalized(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(normalized);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalized(x)]));
  return v;
}

test('round trip of each frame, split at every byte boundary', () => {
  for (const f of frames) {
    const bytes = encodeFrame(f);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const out = decodeAll(bytes, [cut]);
      assert.equal(out.length, 1);
      assert.equal(normalized(out[0]), normalized(f), `cut at ${cut}`);
    }
  }
});

test('all frames in one chunk, and byte by byte', () => {
  const bytes = Buffer.concat(frames.map((f) => encodeFrame(f)));
  assert.equal(normalized(decodeAll(bytes, [])), normalized(frames));
  const every = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  assert.equal(normalized(decodeAll(bytes, every)), normalized(frames));
});

test('bytes come back as a Uint8Array that does not alias the input', () => {
  const bytes = encodeFrame({ id: 1, method: 'm', params: { data: new Uint8Array([9, 8, 7]) } });
  const d = new FrameDecoder();
  let got: { params: { data: Uint8Array } } | undefined;
  d.push(bytes, (item) => {
    got = item as typeof got;
  });
  bytes.fill(0);
  assert.ok(got?.params.data instanceof Uint8Array);
  assert.equal([...(got?.params.data ?? [])], [9, 8, 7]);
});

test('the encoding is plain CBOR: a map with text keys, bytes as a byte string (major type 2), no tags', () => {
  const hex = encodeFrame({ id: 1, method: 'app.info' }).toString('hex');
  // length 21, a2 map(2), 62 "id" 01, 66 "method" 68 "app.info"
  assert.is(hex, '00000015a262696401666d6574686f64686170702e696e666f');
  const b = encodeFrame({ d: new Uint8Array([1, 2]) }).toString('hex');
  assert.is(b, '00000006a161644201' + '02');
  const m = encodeFrame(new Map([['k', 1]])).toString('hex');
  assert.is(m, '00000004a1616b01', 'a JS Map is a plain CBOR map, not tag 259');
});

test('the SDK codec encodes the same bytes and decodes the agent frames', () => {
  for (const f of frames) {
    assert.equal(sdkEncodeFrame(f), encodeFrame(f));
    const d = new SdkFrameDecoder();
    const got: unknown[] = [];
    const bytes = encodeFrame(f);
    for (const b of bytes) d.push(Buffer.from([b]), (x) => got.push(x));
    assert.equal(normalized(got), [normalized(f)]);
  }
});

test('an oversized length is refused as soon as the prefix is in, before any body', () => {
  const d = new FrameDecoder(1024);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1025);
  try {
    d.push(prefix, () => assert.unreachable('no frame'));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, EsdkError);
    assert.is((e as EsdkError).code, 'too-large');
    assert.match((e as EsdkError).message, '1025');
  }
  const big = Buffer.alloc(4);
  big.writeUInt32BE(0xffffffff);
  assert.throws(
    () => new FrameDecoder().push(big, () => {}),
    (e: EsdkError) => e.code === 'too-large',
  );
});

test('frames before a bad one are delivered, then the error', () => {
  const good = encodeFrame({ id: 1, method: 'a' });
  const bad = Buffer.from('00000002ffff', 'hex');
  const got: unknown[] = [];
  assert.throws(
    () => new FrameDecoder().push(Buffer.concat([good, bad]), (x) => got.push(x)),
    (e: EsdkError) => e.code === 'bad-request',
  );
  assert.equal(got, [{ id: 1, method: 'a' }]);
});

test('a zero length, trailing bytes, truncated items and junk are bad requests', () => {
  const cases = {
    zero: '00000000',
    trailing: '000000020102', // two items in one frame
    truncatedMap: '00000001a2',
    truncatedText: '000000036568690000', // text of 5 with 2 bytes, then a zero-length frame
    reserved: '000000011c', // reserved additional info
    breakAlone: '00000001ff',
  };
  for (const [name, hex] of Object.entries(cases)) {
    assert.throws(
      () => new FrameDecoder().push(Buffer.from(hex, 'hex'), () => {}),
      (e: EsdkError) => e instanceof EsdkError && e.code === 'bad-request',
      name,
    );
  }
});

test('a truncated stream is just incomplete: it waits for more', () => {
  const bytes = encodeFrame({ id: 1, method: 'app.info' });
  const d = new FrameDecoder();
  d.push(bytes.subarray(0, bytes.length - 1), () => assert.unreachable());
  assert.is(d.bufferedBytes, bytes.length - 1);
});

test('tags that build non-plain values are refused', () => {
  const samples: Record<string, string> = {
    date: 'c074323031332d30332d32315432303a30343a30305a',
    bigint: 'c249010000000000000000',
    set: 'd9010283010203',
    regexp: 'd81b826652656745787063612e2a', // tag 27 ["RegExp", "a.*"]
    float32array: 'd85544cdcc8c3f', // tag 85 typed array
    unknownTag: 'd9ffff01',
    cyclic: 'd81ca1616ad81d00', // shareable map {j: shared ref 0} (cycle)
  };
  for (const [name, hex] of Object.entries(samples)) {
    assert.throws(
      () => decodeBody(Buffer.from(hex, 'hex')),
      (e: EsdkError) => e instanceof EsdkError && e.code === 'bad-request',
      name,
    );
  }
});

test('records of the cbor-x extension decode to plain maps and leave no state behind', () => {
  const withRecords = new Encoder({ useRecords: true });
  const v = decodeBody(withRecords.encode({ id: 1, method: 'x' }));
  assert.equal(v, { id: 1, method: 'x' });
  // A record-structure reference without its definition, in the next frame, is an error, not the old structure.
  assert.throws(() => decodeBody(Buffer.from('d9e0008201' + '6178', 'hex')));
});

test('__proto__ keys do not reach the prototype', () => {
  const v = decodeBody(Buffer.from('a1695f5f70726f746f5f5fa1617801', 'hex')) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(v), Object.prototype);
  assert.is(({} as Record<string, unknown>).x, undefined);
});

test('deep nesting is refused without crashing', () => {
  assert.throws(
    () => decodeBody(Buffer.alloc(100, 0x81)),
    (e: EsdkError) => e.code === 'bad-request',
  );
  assert.throws(() => decodeBody(Buffer.concat([Buffer.alloc(500_000, 0x81), Buffer.from([0])])));
  assert.is(plainDataProblem([[[1]]], 0), undefined);
});

test('parseRequest: shapes and types', () => {
  assert.equal(parseRequest({ id: 0, method: 'a' }), { id: 0, method: 'a', params: {} });
  assert.equal(parseRequest({ id: 5, method: 'a', params: { x: 1 } }), { id: 5, method: 'a', params: { x: 1 } });
  const bad: Array<[unknown, boolean]> = [
    [[1, 2], false],
    ['text', false],
    [new Uint8Array(2), false],
    [null, false],
    [7, false],
    [{ method: 'a' }, false],
    [{ id: -1, method: 'a' }, false],
    [{ id: 1.5, method: 'a' }, false],
    [{ id: '1', method: 'a' }, false],
    [{ id: 2 ** 53, method: 'a' }, false],
    [{ id: 1 }, true],
    [{ id: 1, method: '' }, true],
    [{ id: 1, method: 7 }, true],
    [{ id: 1, method: 'a', params: [1] }, true],
    [{ id: 1, method: 'a', params: 'x' }, true],
    [{ id: 1, method: 'a', params: new Uint8Array(1) }, true],
  ];
  for (const [item, hasId] of bad) {
    try {
      parseRequest(item);
      assert.unreachable(JSON.stringify(item));
    } catch (e) {
      assert.instance(e, EsdkError);
      assert.is((e as EsdkError).code, 'bad-request');
      assert.is(((e as EsdkError).data as { id?: number } | undefined)?.id !== undefined, hasId, JSON.stringify(item));
    }
  }
});

test.run();
