import { invalid } from '../errors.js';
import { type Digest, parseDigest } from './digest.js';

/**
 * Where an image comes from. Docker users' rules apply to registry
 * references: no host means Docker Hub, and a one-part Hub name lives under
 * `library/`; no tag and no digest means `latest`.
 */
export type ImageRef =
  | { kind: 'registry'; registry: string; repository: string; tag?: string; digest?: Digest }
  | { kind: 'oci-layout'; path: string; tag?: string; digest?: Digest }
  | { kind: 'oci-archive'; path: string; tag?: string; digest?: Digest };

export const DOCKER_HUB = 'docker.io';
/** The host Docker Hub's API actually answers on. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

// distribution/reference grammar: path components of lowercase alphanumerics
// joined by separators (., _, __, one or more -), tags of at most 128 word chars.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

/** Pure: parse a reference string; throws `invalid` saying which part is wrong. */
export function parseReference(input: string): ImageRef {
  const s = input.trim();
  if (s === '') throw invalid('image reference is empty');
  if (s.startsWith('oci:')) return parseLocal('oci-layout', s.slice(4), input);
  if (s.startsWith('oci-archive:')) return parseLocal('oci-archive', s.slice(12), input);
  return parseRegistryRef(s, input);
}

function parseLocal(kind: 'oci-layout' | 'oci-archive', rest: string, input: string): ImageRef {
  if (!rest.startsWith('/')) throw invalid(`${kind} reference ${JSON.stringify(input)} needs an absolute path`);
  const at = rest.lastIndexOf('@');
  if (at > 0 && rest.slice(at + 1).startsWith('sha256:')) {
    return {
      kind,
      path: rest.slice(0, at),
      digest: parseDigest(rest.slice(at + 1), `digest in ${JSON.stringify(input)}`),
    };
  }
  // A tag follows the last colon, unless that colon is inside the path (a slash after it).
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && !rest.slice(colon).includes('/')) {
    const tag = rest.slice(colon + 1);
    if (tag === '') throw invalid(`empty tag in ${JSON.stringify(input)}`);
    return { kind, path: rest.slice(0, colon), tag };
  }
  return { kind, path: rest };
}

function parseRegistryRef(s: string, input: string): ImageRef {
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1), `digest in ${JSON.stringify(input)}`);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw invalid(
        `tag ${JSON.stringify(tag)} in ${JSON.stringify(input)} is not valid (letters, digits, _ . -; at most 128)`,
      );
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  // The first part is a host when it looks like one: has a dot or a port, or is localhost.
  const first = parts[0] ?? '';
  if (
    parts.length > 1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))
  ) {
    if (!HOST.test(first))
      throw invalid(`registry host ${JSON.stringify(first)} in ${JSON.stringify(input)} is not valid`);
    registry = first;
    parts.shift();
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const c of parts) {
    if (!COMPONENT.test(c)) {
      throw invalid(
        `repository part ${JSON.stringify(c)} in ${JSON.stringify(input)} is not valid (lowercase letters, digits, separators . _ -)`,
      );
    }
  }
  const repository = parts.join('/');
  if (repository.length > 255)
    throw invalid(`repository name in ${JSON.stringify(input)} is longer than 255 characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: ImageRef = { kind: 'registry', registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Pure: the canonical string of a reference (what `gantry images` shows). */
export function formatReference(ref: ImageRef): string {
  const suffix = `${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
  if (ref.kind === 'registry') return `${ref.registry}/${ref.repository}${suffix}`;
  return `${ref.kind === 'oci-layout' ? 'oci' : 'oci-archive'}:${ref.path}${suffix}`;
}
