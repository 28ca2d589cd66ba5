import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { denied, type GantryError, invalid, notFound } from '../../errors.js';
import { type Digest, isDigest, sha256Digest } from '../digest.js';
import { parseContentRange } from './content-range.js';
import type { BlobResponse, ManifestResult } from './index.js';
import { checkManifestContent } from './manifest-check.js';

/** One header as a string (node joins repeated ones with ", "; the few it keeps as arrays are not used here). */
export function headerOf(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Read a whole body, refusing more than `max` bytes (checked on Content-Length first, then while reading). */
export async function readCapped(res: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.destroy();
    throw invalid(`${what} is ${declared} bytes, more than the limit of ${max}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) {
      res.destroy();
      throw invalid(`${what} is more than the limit of ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Check a manifest's bytes: their digest against the one asked for and the
 * one the registry claims (distribution-spec "Pulling manifests": a client
 * SHOULD verify Docker-Content-Digest against the content), then the media
 * type against the body.
 */
export function verifyManifest(
  bytes: Buffer,
  headers: IncomingHttpHeaders,
  expected: Digest | undefined,
  what: string,
): ManifestResult {
  const digest = sha256Digest(bytes);
  const claimed = headers['docker-content-digest'];
  // Only a sha256 claim can be compared; another algorithm is not ours to check.
  if (typeof claimed === 'string' && isDigest(claimed) && claimed !== digest) {
    throw invalid(`${what}: content digest ${digest} differs from Docker-Content-Digest ${claimed}`);
  }
  if (expected !== undefined && expected !== digest) {
    throw invalid(`${what}: content digest ${digest} differs from the expected ${expected}`);
  }
  const mediaType = checkManifestContent(bytes, headers['content-type'], what);
  return { digest, mediaType, bytes };
}

/**
 * The answer to a blob GET (distribution-spec "Pulling blobs"): a 200 is
 * the whole blob whatever was asked; a 206 must start exactly at `offset`.
 */
export async function blobResponse(
  res: IncomingMessage,
  offset: number,
  what: string,
  registry: string,
): Promise<BlobResponse> {
  const status = res.statusCode ?? 0;
  if (status === 200) {
    const length = Number(res.headers['content-length']);
    return { body: res, offset: 0, ...(Number.isSafeInteger(length) ? { totalSize: length } : {}) };
  }
  if (status === 206) {
    const header = headerOf(res, 'content-range');
    try {
      if (header === undefined) throw invalid('206 without Content-Range');
      const range = parseContentRange(header);
      if (range.start !== offset) throw invalid(`asked from byte ${offset}, got a range from ${range.start}`);
      return { body: res, offset, ...(range.size !== undefined ? { totalSize: range.size } : {}) };
    } catch (e) {
      res.destroy();
      throw invalid(`${what}: bad partial answer`, { cause: e });
    }
  }
  if (status === 416) {
    res.resume();
    throw invalid(`${what}: the registry cannot serve it from byte ${offset} (416); the blob is shorter`);
  }
  throw await statusError(res, what, registry);
}

/**
 * The error for an answer that is not what was asked for. 404 is
 * `not-found` ("manifest 127.0.0.1:5000/foo:bar not found"); 401/403
 * `denied`; other statuses `invalid`, with the registry's own error code
 * (distribution-spec "Error Codes": `{"errors":[{"code","message"}]}`).
 */
export async function statusError(res: IncomingMessage, what: string, registry: string): Promise<GantryError> {
  const status = res.statusCode ?? 0;
  const detail = await errorDetail(res);
  const suffix = detail ? ` (${detail})` : '';
  if (status === 404) return notFound(`${what} not found${suffix}`);
  if (status === 401 || status === 403) return denied(`registry ${registry} denied access to ${what}${suffix}`);
  return invalid(`registry ${registry} answered HTTP ${status} to ${what}${suffix}`);
}

/** The first error code and message of a distribution error body, if there is one (read at most 16 KiB). */
async function errorDetail(res: IncomingMessage): Promise<string | undefined> {
  if (res.readableEnded) return undefined;
  let text = '';
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      text += chunk.toString('utf8');
      if (text.length > 16_384) break;
    }
    const doc = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = doc.errors?.[0];
    if (!first) return undefined;
    return [first.code, first.message].filter((x) => typeof x === 'string' && x !== '').join(': ') || undefined;
  } catch {
    return undefined;
  } finally {
    res.destroy();
  }
}
