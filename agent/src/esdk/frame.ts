/**
 * The eSDK wire format (sdk/PROTOCOL.md is the spec): every message is one
 * frame, a 4-byte big-endian length and then exactly one CBOR data item of
 * that many bytes. Pure: no I/O, so the codec is tested (and fuzzed) alone.
 *
 * cbor-x is set up for plain CBOR that any decoder reads: no record extension
 * or shared structures (they are cbor-x private and would make the decoder
 * keep state between frames), objects as ordinary maps with text keys,
 * Uint8Array as a plain byte string (no typed-array tag). What a peer sends is
 * decoded the same way and then checked to be plain data: cbor-x also accepts
 * tags that build Dates, Sets, RegExps, cyclic references..., none of which a
 * request may contain.
 */
import { Decoder, Encoder, type Options } from 'cbor-x';
import { messageOf } from '../errors.js';

export const PROTOCOL_VERSION = 1;
/** The largest frame body either side accepts unless configured otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
/** Nesting deeper than this is refused: no message of the protocol needs it, and it bounds the checks' recursion. */
export const MAX_NESTING = 64;

/**
 * The closed list of error codes a response may carry (documented in PROTOCOL.md).
 * Clients branch on these; the message is for humans.
 */
export const ERROR_CODES = [
  'bad-request', // malformed frame, request or params
  'unknown-method',
  'denied', // the app's deployment does not grant this device/sensor/access
  'not-found', // no such device, sensor, handle or subscription
  'busy', // the device is held by another app (exclusive serial port, owned output line)
  'timeout', // the device did not answer in time
  'unavailable', // the device or an agent service cannot serve now; retrying may help
  'too-large', // a frame over the size limit
  'internal', // a bug in the agent
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error that becomes an `{id, error: {code, message, data?}}` response. */
export class EsdkError extends Error {
  readonly code: ErrorCode;
  readonly data: unknown;
  constructor(code: ErrorCode, message: string, options?: { data?: unknown; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EsdkError';
    this.code = code;
    this.data = options?.data;
  }
}

export interface WireError {
  code: ErrorCode;
  message: string;
  data?: unknown;
}

/** Client → agent. */
export interface RequestFrame {
  id: number;
  method: string;
  params: Record<string, unknown>;
}
/** Agent → client, one per request. `id: null` answers a frame that had no usable id; the agent then closes. */
export type ResponseFrame = { id: number; result: unknown } | { id: number | null; error: WireError };
/** Agent → client, unsolicited: an event of subscription `sub`, or its end. */
export type EventFrame =
  | { sub: number; event: unknown; dropped?: number }
  | { sub: number; end: WireError | { code: 'closed'; message: string } };

// Two options cbor-x has but does not declare: useTag259ForMaps (false: a JS Map is a plain CBOR map) and
// int64AsNumber (true: an 8-byte integer, as C encoders write timestamps, decodes as a number, not a bigint).
type CborOptions = Options & { useTag259ForMaps?: boolean; int64AsNumber?: boolean };
const encoderOptions: CborOptions = {
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  useTag259ForMaps: false,
  variableMapSize: true,
};
// copyBuffers: decoded byte strings must not alias the receive buffer (device calls keep them past the frame).
const decoderOptions: CborOptions = { useRecords: false, mapsAsObjects: true, int64AsNumber: true, copyBuffers: true };
const encoder = new Encoder(encoderOptions);
const decoder = new Decoder(decoderOptions);

/** One frame: the length prefix and the CBOR item. */
export function encodeFrame(message: unknown): Buffer {
  const body = encoder.encode(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  // Copy: cbor-x may reuse the buffer it returned for the next encode.
  frame.set(body, 4);
  return frame;
}

/** The CBOR item of one frame body, checked to be plain data; throws EsdkError('bad-request'). */
export function decodeBody(body: Uint8Array): unknown {
  let value: unknown;
  try {
    value = decoder.decode(body);
  } catch (e) {
    throw new EsdkError('bad-request', `frame body is not one well-formed CBOR item: ${messageOf(e)}`);
  }
  const problem = plainDataProblem(value, 0);
  if (problem !== undefined) throw new EsdkError('bad-request', `frame body ${problem}`);
  return value;
}

/**
 * Why `value` is not plain protocol data (null, boolean, number, text, bytes,
 * arrays, maps with text keys), or undefined when it is.
 */
export function plainDataProblem(value: unknown, depth: number): string | undefined {
  if (depth > MAX_NESTING) return `nests deeper than ${MAX_NESTING} levels`;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'object': {
      if (value === null) return undefined;
      if (ArrayBuffer.isView(value))
        return value instanceof Uint8Array && (value.constructor === Uint8Array || Buffer.isBuffer(value))
          ? undefined
          : 'holds a typed array other than bytes (CBOR tags 64-87 are not used)';
      if (Array.isArray(value)) {
        for (const v of value) {
          const p = plainDataProblem(v, depth + 1);
          if (p !== undefined) return p;
        }
        return undefined;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype)
        return `holds a ${value.constructor?.name ?? 'non-plain'} value (a CBOR tag the protocol does not use)`;
      for (const k in value) {
        const p = plainDataProblem((value as Record<string, unknown>)[k], depth + 1);
        if (p !== undefined) return p;
      }
      return undefined;
    }
    default:
      return `holds a ${typeof value} value (a CBOR tag the protocol does not use)`;
  }
}

/**
 * Cuts a byte stream into frames. A length over the limit is refused as soon
 * as its 4 bytes are in, before any of the body is buffered; any error is
 * fatal for the stream (the framing can no longer be trusted).
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being read, once its prefix is in; -1 while waiting for a prefix. */
  private need = -1;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes received and not yet part of a decoded frame. */
  get bufferedBytes(): number {
    return this.buffered + (this.need >= 0 ? 4 : 0);
  }

  /**
   * Feed bytes; `onItem` is called with each completed frame's item, in order.
   * Throws EsdkError ('too-large' or 'bad-request') after delivering the frames before the bad one.
   */
  push(chunk: Uint8Array, onItem: (item: unknown) => void): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        const length = this.take(4).readUInt32BE(0);
        if (length > this.maxFrameBytes)
          throw new EsdkError('too-large', `frame of ${length} bytes is over the limit of ${this.maxFrameBytes}`, {
            data: { limit: this.maxFrameBytes },
          });
        if (length === 0) throw new EsdkError('bad-request', 'frame of 0 bytes: a frame holds one CBOR item');
        this.need = length;
      }
      if (this.buffered < this.need) return;
      const body = this.take(this.need);
      this.need = -1;
      onItem(decodeBody(body));
    }
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0] as Buffer;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0] as Buffer;
      const part = Math.min(c.length, n - at);
      c.copy(out, at, 0, part);
      at += part;
      if (part === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(part);
    }
    return out;
  }
}

/** Whether `n` is a usable request id or subscription number: an integer in 0..2^53-1. */
export function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/**
 * A decoded frame as a request. Throws EsdkError('bad-request'); its `data.id`
 * is the frame's id when it had a usable one (so the error can be answered).
 */
export function parseRequest(item: unknown): RequestFrame {
  if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof Uint8Array)
    throw new EsdkError('bad-request', `a request must be a CBOR map, got ${describe(item)}`);
  const { id, method, params } = item as Record<string, unknown>;
  if (!isUint(id)) throw new EsdkError('bad-request', `request id must be an unsigned integer, got ${describe(id)}`);
  if (typeof method !== 'string' || method.length === 0)
    throw new EsdkError(
      'bad-request',
      `request ${id}: method must be a non-empty text string, got ${describe(method)}`,
      {
        data: { id },
      },
    );
  if (params === undefined || params === null) return { id, method, params: {} };
  if (typeof params !== 'object' || Array.isArray(params) || params instanceof Uint8Array)
    throw new EsdkError('bad-request', `request ${id} (${method}): params must be a map, got ${describe(params)}`, {
      data: { id },
    });
  return { id, method, params: params as Record<string, unknown> };
}

/** A short description of a value's wire type, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'a byte string';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}
