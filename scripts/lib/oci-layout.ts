import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildLayerTar, type LayerEntry } from './tar-layer.js';

/** OCI image-spec media types (image-spec v1.1 "Media Types"). */
export const MediaType = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Platform {
  os: 'linux';
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageRecipe {
  platform: Platform;
  layers: LayerEntry[][];
  /** The image config's `config` object (Entrypoint, Cmd, Env, WorkingDir, User...). */
  config: Record<string, unknown>;
  compression?: 'gzip' | 'none';
  /** gzip level; 1 for big layers (the node image), 9 by default. */
  gzipLevel?: number;
}

export const REF_NAME = 'org.opencontainers.image.ref.name';

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** An OCI image layout directory being written (image-spec "Image Layout"). */
export class OciLayoutWriter {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(this.dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
  }

  /** Content-addressed: writing the same bytes twice is a no-op; temp + rename so a reader never sees half a blob. */
  async writeBlob(data: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256(data);
    const file = path.join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, data);
    await rename(tmp, file);
    return { mediaType, digest, size: data.length };
  }

  async writeJsonBlob(value: unknown, mediaType: string): Promise<Descriptor> {
    return this.writeBlob(Buffer.from(JSON.stringify(value)), mediaType);
  }

  /** Layers, config and manifest of one single-platform image; returns the manifest's descriptor. */
  async writeImage(recipe: ImageRecipe): Promise<Descriptor> {
    const layerDescs: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const entries of recipe.layers) {
      const tar = await buildLayerTar(entries);
      diffIds.push(sha256(tar));
      if (recipe.compression === 'none') layerDescs.push(await this.writeBlob(tar, MediaType.layerTar));
      else layerDescs.push(await this.writeBlob(gzipSync(tar, { level: recipe.gzipLevel ?? 9 }), MediaType.layerGzip));
    }
    const { platform } = recipe;
    const config = {
      created: '2000-01-01T00:00:00Z',
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: recipe.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2000-01-01T00:00:00Z', created_by: 'gantry scripts/build-image.ts' })),
    };
    const configDesc = await this.writeJsonBlob(config, MediaType.config);
    const manifest = { schemaVersion: 2, mediaType: MediaType.manifest, config: configDesc, layers: layerDescs };
    return { ...(await this.writeJsonBlob(manifest, MediaType.manifest)), platform };
  }

  /** An image index blob over several platform manifests. */
  async writeIndexBlob(manifests: Descriptor[]): Promise<Descriptor> {
    const index = { schemaVersion: 2, mediaType: MediaType.index, manifests };
    return this.writeJsonBlob(index, MediaType.index);
  }

  /** Point `tag` in the layout's index.json at `desc`, replacing an older entry of that tag. */
  async tag(tag: string, desc: Descriptor): Promise<void> {
    const indexPath = path.join(this.dir, 'index.json');
    let manifests: Descriptor[] = [];
    try {
      manifests = (JSON.parse(await readFile(indexPath, 'utf8')) as { manifests: Descriptor[] }).manifests;
    } catch {
      // no index yet
    }
    const { platform: _platform, ...bare } = desc;
    const entry: Descriptor = { ...bare, annotations: { ...(desc.annotations ?? {}), [REF_NAME]: tag } };
    manifests = [...manifests.filter((m) => m.annotations?.[REF_NAME] !== tag), entry].sort((a, b) =>
      (a.annotations?.[REF_NAME] ?? '').localeCompare(b.annotations?.[REF_NAME] ?? ''),
    );
    const tmp = `${indexPath}.tmp-${process.pid}`;
    await writeFile(tmp, `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.index, manifests }, null, 2)}\n`);
    await rename(tmp, indexPath);
  }
}

/** Read back a layout's blob by digest (for pushing and tests). */
export function readBlob(layoutDir: string, digest: string): Promise<Buffer> {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return readFile(path.join(layoutDir, 'blobs', 'sha256', digest.slice(7)));
}
