import { invalid } from '../../errors.js';
import { INDEX_TYPES, MANIFEST_TYPES } from '../media-types.js';

// Content-Types that say nothing about which manifest this is; the body's
// own `mediaType` must then name it.
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/** Pure: the media type of a Content-Type header, without parameters, lowercased (RFC 9110 §8.3.1). */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Pure: the media type of a manifest or index the registry sent, after
 * checking that the Content-Type, the body's `mediaType` field and the body's
 * shape all agree. Returns the media type; throws `invalid` naming `what`.
 *
 * Why: image-spec v1.1 "Image Manifest" / "Image Index" say `mediaType`, when
 * present, MUST match the descriptor (here: the Content-Type the registry
 * answered, distribution-spec "Pulling manifests"); a body that has
 * `manifests` but claims to be a manifest (or has `layers` but claims to be
 * an index) is the confusion attack those rules exist to stop. Schema 1 and
 * artifact types we cannot run are refused rather than guessed at.
 */
export function checkManifestContent(bytes: Buffer, contentType: string | undefined, what: string): string {
  const doc = parseObject(bytes, what);
  if (doc.schemaVersion !== 2) {
    throw invalid(`${what}: schemaVersion is ${JSON.stringify(doc.schemaVersion)}, only 2 is supported`);
  }
  const header = mediaTypeOf(contentType);
  const field = doc.mediaType;
  if (field !== undefined && typeof field !== 'string') throw invalid(`${what}: mediaType field is not a string`);

  let type: string;
  if (isKnown(header)) {
    if (field !== undefined && field !== header) {
      throw invalid(`${what}: Content-Type is ${header} but the document's mediaType is ${field}`);
    }
    type = header;
  } else if (GENERIC_TYPES.has(header)) {
    if (field === undefined) throw invalid(`${what}: neither Content-Type nor the document names a media type`);
    if (!isKnown(field)) throw invalid(`${what}: unsupported media type ${field}`);
    type = field;
  } else {
    throw invalid(`${what}: unsupported media type ${header}`);
  }
  checkShape(doc, type, what);
  return type;
}

function isKnown(t: string): boolean {
  return MANIFEST_TYPES.includes(t) || INDEX_TYPES.includes(t);
}

function parseObject(bytes: Buffer, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`${what} is not valid JSON`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(`${what} is not a JSON object`);
  return doc as Record<string, unknown>;
}

function checkShape(doc: Record<string, unknown>, type: string, what: string): void {
  const hasManifests = doc.manifests !== undefined;
  const hasImageParts = doc.config !== undefined || doc.layers !== undefined;
  if (INDEX_TYPES.includes(type)) {
    if (!Array.isArray(doc.manifests)) throw invalid(`${what}: ${type} without a manifests array`);
    if (hasImageParts) throw invalid(`${what}: ${type} has config or layers, which only an image manifest has`);
    return;
  }
  const config = doc.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw invalid(`${what}: ${type} without a config descriptor`);
  }
  if (!Array.isArray(doc.layers)) throw invalid(`${what}: ${type} without a layers array`);
  if (hasManifests) throw invalid(`${what}: ${type} has manifests, which only an index has`);
}
