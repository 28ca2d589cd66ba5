import { MediaType, readBlob } from './oci-layout.js';

/**
 * Push the content of an OCI layout to a registry (distribution-spec "Push"):
 * blobs by monolithic POST+PUT (skipped when HEAD finds them), child manifests
 * by digest, then the top manifest or index by tag. Only for test setup and
 * benchmarks; plain HTTP, no auth.
 */
export async function pushToRegistry(
  layoutDir: string,
  registryUrl: string,
  repository: string,
  tag: string,
  top: { mediaType: string; digest: string },
): Promise<void> {
  const base = `${registryUrl.replace(/\/$/, '')}/v2/${repository}`;

  async function pushBlob(digest: string): Promise<void> {
    const head = await fetch(`${base}/blobs/${digest}`, { method: 'HEAD' });
    if (head.status === 200) return;
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`upload start for ${digest}: HTTP ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get('location') ?? '', registryUrl);
    location.searchParams.set('digest', digest);
    const body = await readBlob(layoutDir, digest);
    const put = await fetch(location, {
      method: 'PUT',
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) },
    });
    if (put.status !== 201) throw new Error(`upload of ${digest}: HTTP ${put.status} ${await put.text()}`);
  }

  async function pushManifest(ref: string, digest: string, mediaType: string): Promise<void> {
    const body = await readBlob(layoutDir, digest);
    const doc = JSON.parse(body.toString('utf8')) as {
      config?: { digest: string };
      layers?: Array<{ digest: string }>;
      manifests?: Array<{ digest: string; mediaType: string }>;
    };
    if (mediaType === MediaType.index) {
      for (const m of doc.manifests ?? []) await pushManifest(m.digest, m.digest, m.mediaType);
    } else {
      if (doc.config) await pushBlob(doc.config.digest);
      for (const l of doc.layers ?? []) await pushBlob(l.digest);
    }
    const res = await fetch(`${base}/manifests/${ref}`, {
      method: 'PUT',
      body,
      headers: { 'Content-Type': mediaType },
    });
    if (res.status !== 201) throw new Error(`manifest ${ref}: HTTP ${res.status} ${await res.text()}`);
  }

  await pushManifest(tag, top.digest, top.mediaType);
}
