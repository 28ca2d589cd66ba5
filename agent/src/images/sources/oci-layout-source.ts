import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { errnoCode, invalid, notFound } from '../../errors.js';
import { type Digest, digestHex, sha256Digest } from '../digest.js';
import { MT } from '../media-types.js';
import type { ImageSource, ManifestResult } from './source.js';
import { indexTar, type TarMember } from './tar-index.js';

/** Read access to the files of an OCI image layout, wherever they are kept. */
interface LayoutFiles {
  read(name: string): Promise<Buffer>;
  stream(name: string, offset: number): Promise<Readable>;
}

const REF_NAME = 'org.opencontainers.image.ref.name';

/** A layout directory on disk (image-spec "OCI Image Layout"). */
function directoryFiles(dir: string): LayoutFiles {
  const resolve = (name: string) => path.join(dir, name);
  return {
    read: (name) => readFile(resolve(name)),
    async stream(name, offset) {
      await stat(resolve(name));
      return createReadStream(resolve(name), { start: offset });
    },
  };
}

/** A layout packed in a tar file, read in place through an index of its members. */
function archiveFiles(file: string): LayoutFiles {
  let index: Promise<Map<string, TarMember>> | undefined;
  const member = async (name: string) => {
    index ??= indexTar(file);
    const m = (await index).get(name);
    if (!m) throw Object.assign(new Error(`${file} has no member ${name}`), { code: 'ENOENT' });
    return m;
  };
  return {
    async read(name) {
      const m = await member(name);
      const fh = await open(file, 'r');
      try {
        const buf = Buffer.alloc(m.size);
        await fh.read(buf, 0, m.size, m.offset);
        return buf;
      } finally {
        await fh.close();
      }
    },
    async stream(name, offset) {
      const m = await member(name);
      if (m.size === 0 || offset >= m.size) return Readable.from([]);
      return createReadStream(file, { start: m.offset + offset, end: m.offset + m.size - 1 });
    },
  };
}

export function ociLayoutSource(
  kind: 'oci-layout' | 'oci-archive',
  location: string,
  want: { tag?: string; digest?: Digest },
): ImageSource {
  const files = kind === 'oci-layout' ? directoryFiles(location) : archiveFiles(location);
  const name = `${kind === 'oci-layout' ? 'oci' : 'oci-archive'}:${location}${want.tag ? `:${want.tag}` : ''}${want.digest ? `@${want.digest}` : ''}`;
  const blobName = (d: Digest) => `blobs/sha256/${digestHex(d)}`;

  async function readVerified(digest: Digest): Promise<Buffer> {
    const bytes = await files.read(blobName(digest)).catch((e: unknown) => {
      throw errnoCode(e) === 'ENOENT' ? notFound(`${name}: blob ${digest} is missing`, { cause: e }) : e;
    });
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw invalid(`${name}: blob ${digest} hashes to ${actual}`);
    return bytes;
  }

  async function manifest(digest: Digest, mediaType?: string): Promise<ManifestResult> {
    const bytes = await readVerified(digest);
    return { digest, mediaType: mediaType ?? sniffMediaType(bytes), bytes };
  }

  return {
    name,
    async resolve() {
      let index: { manifests?: Array<{ digest: Digest; mediaType: string; annotations?: Record<string, string> }> };
      try {
        index = JSON.parse((await files.read('index.json')).toString('utf8'));
      } catch (e) {
        throw errnoCode(e) === 'ENOENT'
          ? notFound(`${name}: no index.json (not an OCI layout?)`, { cause: e })
          : invalid(`${name}: index.json is not valid JSON`, { cause: e });
      }
      const entries = index.manifests ?? [];
      if (want.digest) {
        const entry = entries.find((m) => m.digest === want.digest);
        return manifest(want.digest, entry?.mediaType);
      }
      const tagged = want.tag ? entries.filter((m) => m.annotations?.[REF_NAME] === want.tag) : entries;
      const entry = tagged[0];
      if (!entry || tagged.length > 1) {
        const tags = entries.map((m) => m.annotations?.[REF_NAME]).filter(Boolean);
        throw notFound(
          `${name}: ${want.tag ? `no image tagged ${want.tag}` : 'several images and no tag given'}; tags: ${tags.join(', ') || 'none'}`,
        );
      }
      return manifest(entry.digest, entry.mediaType);
    },
    manifest: (digest) => manifest(digest),
    async blob(digest, offset) {
      const body = await files.stream(blobName(digest), offset).catch((e: unknown) => {
        throw errnoCode(e) === 'ENOENT' ? notFound(`${name}: blob ${digest} is missing`, { cause: e }) : e;
      });
      return { body, offset };
    },
  };
}

/** A manifest named only by digest carries its type in its own mediaType field (image-spec v1.1 requires it). */
function sniffMediaType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    return Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest;
  } catch {
    return MT.ociManifest;
  }
}
