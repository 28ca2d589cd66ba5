import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { withTimeout } from '../../../helpers/timeout.js';

/**
 * Layer fixtures for the unpacker's tests: tars built entry by entry with
 * tar-stream's pack() (so names and headers are exactly what a test says,
 * malicious or not), raw 512-byte headers for what pack() will not write,
 * compression with the real gzip/zstd, and tree snapshots to compare.
 */

export type TarType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TarEntry {
  name: string;
  type?: TarType;
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records (e.g. `SCHILY.xattr.user.x`, or a `path` that overrides the name). */
  pax?: Record<string, string>;
}

export const MT = {
  tar: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export const FIXED = new Date(Date.UTC(2001, 1, 3, 4, 5, 6));
const END_OF_ARCHIVE = Buffer.alloc(1024);
const execFileP = promisify(execFile);

/** One entry as tar bytes (headers, PAX header if any, body, padding), without the end-of-archive blocks. */
async function entryBytes(e: TarEntry): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', (err: unknown) => reject(err));
  });
  const type = e.type ?? 'file';
  const body = e.content === undefined ? undefined : Buffer.from(e.content);
  const header = {
    name: e.name,
    type,
    mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    mtime: e.mtime ?? FIXED,
    uname: '',
    gname: '',
    ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
    ...(e.pax ? { pax: e.pax } : {}),
  };
  await new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body && type === 'file') p.entry({ ...header, size: body.length }, body, cb);
    else p.entry(header, cb);
  });
  p.finalize();
  await ended;
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - END_OF_ARCHIVE.length);
}

/** A whole tar: entries (or raw bytes, spliced in as they are) and the end-of-archive blocks. */
export async function buildTar(entries: ReadonlyArray<TarEntry | Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(Buffer.isBuffer(e) ? e : await entryBytes(e));
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/** A hand-made ustar header with any typeflag (pack() only writes the types it knows). */
export function rawHeader(name: string, typeflag: string, size = 0): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write(`${Math.floor(FIXED.getTime() / 1000).toString(8)}\0`, 136);
  b.write(typeflag, 156, 1, 'latin1');
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function gzip(tar: Buffer): Buffer {
  return gzipSync(tar);
}

/** zstd with the real CLI (Debian zstd), as a registry-built layer would be. */
export async function zstd(tar: Buffer, args: string[] = ['-3']): Promise<Buffer> {
  const child = spawn('zstd', ['-q', '-c', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  child.stdin.end(tar);
  const code = await withTimeout(exited, 20_000, 'zstd').finally(() => child.kill('SIGKILL'));
  if (code !== 0) throw new Error(`zstd failed: ${err}`);
  return Buffer.concat(out);
}

/** One xattr's value ('' when absent), read with getfattr without following a final symlink. */
export async function getXattr(p: string, name: string): Promise<string> {
  try {
    const { stdout } = await execFileP('getfattr', ['-h', '--only-values', '-n', name, p], { timeout: 5000 });
    return stdout;
  } catch (e) {
    if (/No such attribute/.test(String((e as { stderr?: unknown }).stderr))) return '';
    throw e;
  }
}

/** A Readable over `buf` in chunks of `chunk` bytes (small chunks exercise every boundary). */
export function source(buf: Buffer, chunk = 16 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let o = 0; o < buf.length; o += chunk) parts.push(buf.subarray(o, o + chunk));
  return Readable.from(parts, { objectMode: false });
}

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  rdev: number;
  link?: string;
  sha?: string;
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): string {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/** Every path under `dir` (relative, sorted) with its type, mode, owner, link target and content digest. */
export async function snapshot(dir: string, opts: { times?: boolean } = {}): Promise<Record<string, NodeInfo>> {
  const out: Record<string, NodeInfo> = {};
  const walk = async (rel: string) => {
    const abs = path.join(dir, rel);
    const st = await lstat(abs);
    const info: NodeInfo = {
      type: typeOf(st),
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      nlink: st.isDirectory() ? 0 : st.nlink,
      size: st.isFile() ? st.size : 0,
      mtimeMs: opts.times ? st.mtimeMs : 0,
      ctimeMs: opts.times ? st.ctimeMs : 0,
      rdev: st.rdev,
    };
    if (st.isSymbolicLink()) info.link = await readlink(abs);
    if (st.isFile()) info.sha = sha256(await readFile(abs));
    out[rel === '' ? '.' : rel] = info;
    if (st.isDirectory()) for (const c of (await readdir(abs)).sort()) await walk(rel === '' ? c : `${rel}/${c}`);
  };
  await walk('');
  return out;
}
