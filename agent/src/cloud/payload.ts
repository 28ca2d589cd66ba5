import { Encoder } from 'cbor-x';
import { invalid } from '../errors.js';

/**
 * The CBOR dialect of every payload under gantry/v1: plain RFC 8949 maps with
 * text keys, byte strings for bytes, no cbor-x record extension (a Python or C
 * client must decode what we send) and no tag on Uint8Array.
 */
const codec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  variableMapSize: true,
});

export function encodePayload(value: unknown): Uint8Array {
  return codec.encode(value);
}

/** Decode one complete CBOR item; trailing bytes or a truncated item are `invalid`. */
export function decodePayload(bytes: Uint8Array, what: string): unknown {
  try {
    return codec.decode(bytes);
  } catch (e) {
    throw invalid(`${what} is not valid CBOR: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
