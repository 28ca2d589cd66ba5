import { type KeyObject, sign, verify } from 'node:crypto';
import { Decoder } from 'cbor-x';
import { GantryError } from '../errors.js';
import { encodePayload, isPlainObject } from './payload.js';

/**
 * The signed envelope a deployment document travels in (docs/mqtt-contract.md,
 * "Signed envelope"). Pure: bytes and keys in, bytes or a verdict out.
 *
 *   CBOR map { v: 1, kid: text, alg: "ed25519", doc: bytes, sig: bytes(64) }
 *
 * `doc` is the deployment document as UTF-8 JSON text, and the signature is
 * over those exact bytes (after a fixed context prefix): nothing is
 * canonicalised, so any signer that can produce an ed25519 signature over a
 * file (openssl pkeyutl -rawin, libsodium, a cloud HSM) can make envelopes.
 */
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_ALG = 'ed25519';

/**
 * Domain separation: the signed message is this prefix followed by the doc
 * bytes, so a signature made with a fleet key for anything else (another
 * protocol, a future envelope version) can never pass as a deployment.
 */
export const SIGNING_CONTEXT = 'gantry/v1 deployment\0';

/** Larger envelopes are refused before decoding (a deployment document is a few KiB). */
export const MAX_ENVELOPE_BYTES = 1024 * 1024;

const KID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const ENVELOPE_KEYS = ['alg', 'doc', 'kid', 'sig', 'v'];

export type EnvelopeRefusal = 'malformed' | 'unknown-key' | 'bad-signature';

/** Why an envelope was refused; `reason` is what the `rejected` event carries. */
export class EnvelopeError extends GantryError {
  readonly reason: EnvelopeRefusal;
  readonly kid: string | undefined;

  constructor(reason: EnvelopeRefusal, message: string, kid?: string) {
    super(reason === 'malformed' ? 'invalid' : 'denied', message);
    this.name = 'EnvelopeError';
    this.reason = reason;
    this.kid = kid;
  }
}

export interface VerifiedEnvelope {
  /** The parsed JSON document (not yet validated as a deployment). */
  doc: unknown;
  kid: string;
  /** The exact signed document bytes (for hashing / storing as received). */
  docBytes: Uint8Array;
}

/** The message that is signed: SIGNING_CONTEXT bytes followed by the document bytes. */
export function signedMessage(docBytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(SIGNING_CONTEXT, 'utf8'), docBytes]);
}

/** Sign a JSON document (serialised with JSON.stringify). */
export function signEnvelope(doc: unknown, kid: string, privateKey: KeyObject): Uint8Array {
  return signEnvelopeBytes(new TextEncoder().encode(JSON.stringify(doc)), kid, privateKey);
}

/** Sign document bytes exactly as given (e.g. a JSON file as written by a person). */
export function signEnvelopeBytes(docBytes: Uint8Array, kid: string, privateKey: KeyObject): Uint8Array {
  if (!KID.test(kid)) throw new EnvelopeError('malformed', `key id ${JSON.stringify(kid)} is not a valid kid`, kid);
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new EnvelopeError('malformed', `key ${kid} is not an ed25519 private key`, kid);
  }
  const sig = sign(null, signedMessage(docBytes), privateKey);
  return assembleEnvelope(kid, docBytes, sig);
}

/** Build the CBOR envelope from parts (also used by tests to forge bad ones). */
export function assembleEnvelope(kid: string, docBytes: Uint8Array, sig: Uint8Array): Uint8Array {
  return encodePayload({
    v: ENVELOPE_VERSION,
    kid,
    alg: ENVELOPE_ALG,
    doc: Buffer.from(docBytes.buffer, docBytes.byteOffset, docBytes.byteLength),
    sig: Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength),
  });
}

// Strict decoding: no records, no tagged surprises turning into live objects we then trust.
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/**
 * Verify an envelope against the trusted keys and return the document.
 * Throws EnvelopeError: 'malformed' (not a v1 envelope, or the signed bytes
 * are not JSON), 'unknown-key' (kid not trusted), 'bad-signature'.
 * The signature is checked before the document is parsed.
 */
export function verifyEnvelope(bytes: Uint8Array, trustedKeys: ReadonlyMap<string, KeyObject>): VerifiedEnvelope {
  if (bytes.byteLength === 0) throw new EnvelopeError('malformed', 'envelope is empty');
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeError('malformed', `envelope is ${bytes.byteLength} bytes, over the ${MAX_ENVELOPE_BYTES} limit`);
  }
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (e) {
    throw new EnvelopeError('malformed', `envelope is not valid CBOR: ${e instanceof Error ? e.message : String(e)}`);
  }
  const env = checkShape(value);
  const key = trustedKeys.get(env.kid);
  if (key === undefined) {
    throw new EnvelopeError('unknown-key', `envelope is signed with key ${env.kid}, which is not trusted`, env.kid);
  }
  let ok: boolean;
  try {
    ok = verify(null, signedMessage(env.doc), key, env.sig);
  } catch (e) {
    throw new EnvelopeError(
      'bad-signature',
      `cannot verify with key ${env.kid}: ${e instanceof Error ? e.message : String(e)}`,
      env.kid,
    );
  }
  if (!ok) throw new EnvelopeError('bad-signature', `signature does not match key ${env.kid}`, env.kid);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(env.doc));
  } catch (e) {
    throw new EnvelopeError(
      'malformed',
      `signed document is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`,
      env.kid,
    );
  }
  return { doc, kid: env.kid, docBytes: env.doc };
}

function checkShape(value: unknown): { kid: string; doc: Uint8Array; sig: Uint8Array } {
  if (!isPlainObject(value)) throw new EnvelopeError('malformed', 'envelope is not a CBOR map');
  const keys = Object.keys(value).sort();
  if (keys.join(',') !== ENVELOPE_KEYS.join(',')) {
    throw new EnvelopeError(
      'malformed',
      `envelope must have exactly the fields ${ENVELOPE_KEYS.join(', ')}; it has ${keys.join(', ') || 'none'}`,
    );
  }
  const { v, kid, alg, doc, sig } = value;
  if (v !== ENVELOPE_VERSION) {
    throw new EnvelopeError(
      'malformed',
      `envelope version ${String(v)} is not supported (expected ${ENVELOPE_VERSION})`,
    );
  }
  if (typeof kid !== 'string' || !KID.test(kid))
    throw new EnvelopeError('malformed', 'envelope kid is not a valid key id');
  if (alg !== ENVELOPE_ALG) {
    throw new EnvelopeError(
      'malformed',
      `envelope alg ${JSON.stringify(alg)} is not supported (expected ed25519)`,
      kid,
    );
  }
  if (!(doc instanceof Uint8Array)) throw new EnvelopeError('malformed', 'envelope doc is not a byte string', kid);
  if (!(sig instanceof Uint8Array) || sig.byteLength !== 64) {
    throw new EnvelopeError('malformed', 'envelope sig is not a 64-byte ed25519 signature', kid);
  }
  return { kid, doc, sig };
}
