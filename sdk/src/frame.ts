/**
 * The eSDK frame codec, client side: a 4-byte big-endian length, then one
 * CBOR item (PROTOCOL.md, "Framing"). It repeats the agent's codec on purpose:
 * the SDK runs inside app containers and must not import agent code. A test
 * checks both encode the same bytes.
 */
import { Decoder, Encoder, type Options } from 'cbor-x';

/** The largest frame body the SDK accepts from the agent, as the agent's default limit. */
export const MAX_FRAME_BYTES = 1 << 20;

// Plain CBOR: no cbor-x records, maps with text keys, Uint8Array as a byte string,
// 8-byte integers as numbers (cbor-x knows these options but does not declare the last two).
type CborOptions = Options & { useTag259ForMaps?: boolean; int64AsNumber?: boolean };
const encoderOptions: CborOptions = {
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  useTag259ForMaps: false,
  variableMapSize: true,
};
const decoderOptions: CborOptions = { useRecords: false, mapsAsObjects: true, int64AsNumber: true, copyBuffers: true };
const encoder = new Encoder(encoderOptions);
const decoder = new Decoder(decoderOptions);

/** One frame: the length prefix and the CBOR item. */
export function encodeFrame(message: unknown): Buffer {
  const body = encoder.encode(message);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, 4);
  return frame;
}

/** Cuts a byte stream into decoded frame items; throws on a frame over the limit or one that is not CBOR. */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrameBytes: number = MAX_FRAME_BYTES) {}

  push(chunk: Buffer, onItem: (item: unknown) => void): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (length === 0 || length > this.maxFrameBytes)
        throw new Error(`frame length ${length} is outside 1..${this.maxFrameBytes}`);
      if (this.buffer.length < 4 + length) return;
      const body = this.buffer.subarray(4, 4 + length);
      this.buffer = this.buffer.subarray(4 + length);
      onItem(decoder.decode(body));
    }
  }
}
