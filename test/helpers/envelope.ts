import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assembleEnvelope, signEnvelope, signEnvelopeBytes } from '../../agent/src/cloud/envelope.js';
import { type Ed25519KeyPair, generateKeyPair } from '../../agent/src/cloud/keys.js';
import { decodePayload } from '../../agent/src/cloud/payload.js';

/** A signing identity for tests: a fresh ed25519 key pair under a kid. */
export interface TestSigner {
  readonly kid: string;
  readonly keys: Ed25519KeyPair;
  /** Envelope over JSON.stringify(doc). */
  sign(doc: unknown): Uint8Array;
  /** A well-formed envelope whose signature does not match: one bit of the signed document flipped after signing. */
  tampered(doc: unknown): Uint8Array;
}

export function testSigner(kid = 'fleet-test-1'): TestSigner {
  const keys = generateKeyPair();
  return {
    kid,
    keys,
    sign: (doc) => signEnvelope(doc, kid, keys.privateKey),
    tampered(doc) {
      const bytes = new TextEncoder().encode(JSON.stringify(doc));
      const good = signEnvelopeBytes(bytes, kid, keys.privateKey);
      const sig = extractSig(good);
      const altered = Uint8Array.from(bytes);
      const at = altered.length - 2; // inside the JSON text, still valid UTF-8 after the flip
      altered[at] = (altered[at] ?? 0) ^ 0x01;
      return assembleEnvelope(kid, altered, sig);
    },
  };
}

function extractSig(envelope: Uint8Array): Uint8Array {
  const { sig } = decodePayload(envelope, 'test envelope') as { sig: Uint8Array };
  return sig;
}

/** Write bytes to DIR/name and return the path (for `mosquitto_pub -f`). */
export async function writeBytes(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}
