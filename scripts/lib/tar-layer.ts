import { pack } from 'tar-stream';

/**
 * One entry of a layer tarball, as the image builder describes it. Paths are
 * relative to the root ("bin/sh", not "/bin/sh").
 */
export type LayerEntry =
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; content: Buffer | string; mode?: number; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; target: string };

/** Fixed mtime for every entry (2000-01-01 UTC): the same inputs must give the same digest. */
export const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));

/**
 * Pure (given its inputs): build an uncompressed POSIX tar of `entries`,
 * sorted by path (hardlinks after everything else) so that the caller's
 * order never changes the bytes.
 * Parent directories are not invented: list them.
 */
export async function buildLayerTar(entries: LayerEntry[]): Promise<Buffer> {
  // Hardlinks go last: a link entry can only point at a file the tar already holds.
  const rank = (e: LayerEntry) => (e.type === 'hardlink' ? 1 : 0);
  const sorted = [...entries].sort((a, b) => rank(a) - rank(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set<string>();
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of sorted) {
    if (e.path.startsWith('/') || e.path.split('/').includes('..'))
      throw new Error(`layer entry path must be relative and inside the root: ${e.path}`);
    if (seen.has(e.path)) throw new Error(`duplicate layer entry: ${e.path}`);
    seen.add(e.path);
    const common = { mtime: FIXED_MTIME, uname: '', gname: '' };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      switch (e.type) {
        case 'dir':
          p.entry(
            {
              ...common,
              name: `${e.path}/`,
              type: 'directory',
              mode: e.mode ?? 0o755,
              uid: e.uid ?? 0,
              gid: e.gid ?? 0,
            },
            cb,
          );
          break;
        case 'file': {
          const body = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
          p.entry(
            {
              ...common,
              name: e.path,
              type: 'file',
              size: body.length,
              mode: e.mode ?? 0o644,
              uid: e.uid ?? 0,
              gid: e.gid ?? 0,
            },
            body,
            cb,
          );
          break;
        }
        case 'symlink':
          p.entry({ ...common, name: e.path, type: 'symlink', linkname: e.target, mode: 0o777, uid: 0, gid: 0 }, cb);
          break;
        case 'hardlink':
          p.entry({ ...common, name: e.path, type: 'link', linkname: e.target, mode: 0o644, uid: 0, gid: 0 }, cb);
          break;
      }
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every ancestor directory of `paths`, as dir entries (mode 0755), for callers that only list files. */
export function parentDirs(paths: string[], existing: Set<string> = new Set()): LayerEntry[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].filter((d) => !existing.has(d)).map((d) => ({ type: 'dir', path: d }));
}
