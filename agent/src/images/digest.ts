import { createHash } from 'node:crypto';
import { invalid } from '../errors.js';

/**
 * A validated content digest. Only sha256 is accepted (image-spec
 * "Digests": sha256 is the one algorithm every implementation must support),
 * and the hex part is checked *before* a digest is ever used as a file name.
 */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Throws `invalid` naming `what` when `s` is not a sha256 digest. */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (isDigest(s)) return s;
  if (/^[a-z0-9]+([+._-][a-z0-9]+)*:/.test(s) && !s.startsWith('sha256:')) {
    throw invalid(`${what} ${JSON.stringify(s)} uses an unsupported algorithm (only sha256)`);
  }
  throw invalid(`${what} ${JSON.stringify(s)} is not a valid sha256 digest`);
}

/** The 64-hex part, safe to use as a path component. */
export function digestHex(d: Digest): string {
  return d.slice(7);
}

export function sha256Digest(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
