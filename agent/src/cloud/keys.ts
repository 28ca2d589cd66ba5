import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { invalid } from '../errors.js';

/**
 * ed25519 key files for deployment envelopes: public keys as PEM SPKI
 * ("BEGIN PUBLIC KEY"), private keys as PEM PKCS#8 ("BEGIN PRIVATE KEY"),
 * the formats `openssl genpkey -algorithm ed25519` writes. The agent only
 * ever reads public keys; the fleet CLI signs with private ones.
 */
export interface Ed25519KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  publicPem: string;
  privatePem: string;
}

export function generateKeyPair(): Ed25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey,
    privateKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function parsePublicKeyPem(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw invalid(`${source} is not a PEM public key: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw invalid(`${source} holds a ${key.asymmetricKeyType ?? 'unknown'} key; deployment keys must be ed25519`);
  }
  return key;
}

export function parsePrivateKeyPem(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw invalid(`${source} is not a PEM private key: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw invalid(`${source} holds a ${key.asymmetricKeyType ?? 'unknown'} key; deployment keys must be ed25519`);
  }
  return key;
}

export async function loadPublicKey(file: string): Promise<KeyObject> {
  return parsePublicKeyPem(await readKeyFile(file), file);
}

export async function loadPrivateKey(file: string): Promise<KeyObject> {
  return parsePrivateKeyPem(await readKeyFile(file), file);
}

/** The trusted keys of the agent config (`cloud.trustedKeys`), by kid. A kid listed twice is a config error. */
export async function loadTrustedKeys(
  entries: ReadonlyArray<{ kid: string; publicKeyFile: string }>,
): Promise<Map<string, KeyObject>> {
  const keys = new Map<string, KeyObject>();
  for (const { kid, publicKeyFile } of entries) {
    if (keys.has(kid)) throw invalid(`cloud.trustedKeys lists kid ${kid} twice`);
    keys.set(kid, await loadPublicKey(publicKeyFile));
  }
  return keys;
}

/** A stable short name for a public key (sha256 of its SPKI DER, 16 hex digits): a sensible default kid. */
export function keyFingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw invalid(`cannot read key file ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
