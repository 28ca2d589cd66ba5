import type { Readable } from 'node:stream';
import type { Digest } from '../digest.js';

export interface ManifestResult {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/**
 * Where a pull reads from: a registry, an OCI layout directory, or an OCI
 * archive. The puller only speaks this, so all three get the same
 * verification, platform choice, resume and unpack.
 */
export interface ImageSource {
  /** For messages: "127.0.0.1:5000/app/meter", "oci:/media/usb/images:meter". */
  readonly name: string;
  /** The manifest or index the reference names. */
  resolve(signal?: AbortSignal): Promise<ManifestResult>;
  /** A manifest named by digest (a platform manifest of an index). */
  manifest(digest: Digest, signal?: AbortSignal): Promise<ManifestResult>;
  /** The bytes of a blob from `offset`; `offset` in the answer says where the body really starts. */
  blob(digest: Digest, offset: number, signal?: AbortSignal): Promise<{ body: Readable; offset: number }>;
}
