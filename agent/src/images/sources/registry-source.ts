import type { Digest } from '../digest.js';
import type { RegistryPort } from '../ports.js';
import { formatReference } from '../reference.js';
import type { ImageSource } from './source.js';

export function registrySource(
  client: RegistryPort,
  ref: { registry: string; repository: string; tag?: string; digest?: Digest },
): ImageSource {
  const repo = { registry: ref.registry, repository: ref.repository };
  return {
    name: formatReference({ kind: 'registry', ...ref }),
    resolve: (signal) => client.getManifest(ref, signal),
    manifest: (digest, signal) => client.getManifest({ ...repo, digest }, signal),
    async blob(digest, offset, signal) {
      const res = await client.fetchBlob(repo, digest, { offset, ...(signal ? { signal } : {}) });
      return { body: res.body, offset: res.offset };
    },
  };
}
