import type { RegistrySettings } from '../../config/agent-config.js';
import { invalid } from '../../errors.js';
import { isDigest } from '../digest.js';
import { DOCKER_HUB, DOCKER_HUB_API } from '../reference.js';

// distribution/reference grammar (as in reference.ts): checked again here
// because a name or tag becomes part of a URL path, and "../" or "?" in one
// must never reach the wire.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;

/** Pure: the host that answers the API of `registry` (Docker Hub's API is not on docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * Pure: the base URL (`…/`) of a registry's API. HTTPS unless the registry's
 * settings say `insecure` (distribution-spec has no discovery of the scheme,
 * and falling back to HTTP by ourselves would let anyone on the path
 * downgrade us).
 */
export function registryBaseUrl(registry: string, settings?: RegistrySettings): URL {
  if (!HOST_PORT.test(registry)) throw invalid(`registry host ${JSON.stringify(registry)} is not valid`);
  return new URL(`${settings?.insecure === true ? 'http' : 'https'}://${apiHost(registry)}/`);
}

/** Pure: check a repository name against the distribution grammar (255 characters at most). */
export function checkRepository(repository: string): string {
  const ok = repository.length <= 255 && repository.split('/').every((c) => COMPONENT.test(c));
  if (!ok) throw invalid(`repository name ${JSON.stringify(repository)} is not valid`);
  return repository;
}

/** Pure: distribution-spec "Pulling manifests": `GET /v2/<name>/manifests/<reference>`, reference = tag or digest. */
export function manifestUrl(base: URL, repository: string, reference: string): URL {
  if (!isDigest(reference) && !TAG.test(reference)) {
    throw invalid(`manifest reference ${JSON.stringify(reference)} is neither a tag nor a sha256 digest`);
  }
  return new URL(`v2/${checkRepository(repository)}/manifests/${reference}`, base);
}

/** Pure: distribution-spec "Pulling blobs": `GET /v2/<name>/blobs/<digest>`. */
export function blobUrl(base: URL, repository: string, digest: string): URL {
  if (!isDigest(digest)) throw invalid(`blob digest ${JSON.stringify(digest)} is not a sha256 digest`);
  return new URL(`v2/${checkRepository(repository)}/blobs/${digest}`, base);
}

/** Pure: the token scope for pulling one repository (distribution token-scope spec: `repository:NAME:pull`). */
export function pullScope(repository: string): string {
  return `repository:${checkRepository(repository)}:pull`;
}

/**
 * Pure: the token request of distribution's token auth spec ("Requesting a
 * Token"): `GET realm?service=…&scope=…`. The realm comes from the registry's
 * challenge, so it is checked to be an absolute http(s) URL; its own query
 * parameters are kept.
 */
export function tokenUrl(realm: string, service: string | undefined, scope: string): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch (e) {
    throw invalid(`bearer realm ${JSON.stringify(realm)} is not a URL`, { cause: e });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(`bearer realm ${JSON.stringify(realm)} is not an http(s) URL`);
  }
  if (url.username !== '' || url.password !== '') throw invalid('bearer realm must not carry credentials');
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  return url;
}

/** Pure: same scheme, host and port: the only case where Authorization may follow a redirect. */
export function sameOrigin(a: URL, b: URL): boolean {
  return a.protocol === b.protocol && a.host === b.host;
}

/**
 * Pure: whether credentials may be sent to `url`: over HTTPS always; over
 * plain HTTP only to a host[:port] configured `insecure` (a trusted network).
 */
export function mayCarryCredentials(
  url: URL,
  settingsFor: (hostPort: string) => RegistrySettings | undefined,
): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && settingsFor(url.host)?.insecure === true;
}
