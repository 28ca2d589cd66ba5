import { open } from 'node:fs/promises';
import { invalid } from '../../errors.js';

export interface TarMember {
  /** Offset of the member's data in the archive. */
  offset: number;
  size: number;
}

/**
 * Index the regular files of a tar archive by name, reading only headers, so
 * an OCI archive on a USB stick can be read in place without unpacking it
 * (the gateway may not have room for a second copy). Handles ustar prefixes,
 * pax `path`/`size` records and GNU long names.
 */
export async function indexTar(file: string): Promise<Map<string, TarMember>> {
  const fh = await open(file, 'r');
  const members = new Map<string, TarMember>();
  try {
    const { size: total } = await fh.stat();
    const header = Buffer.alloc(512);
    let pos = 0;
    let pending: { path?: string; size?: number } = {};
    let ended = false;
    while (pos + 512 <= total) {
      await fh.read(header, 0, 512, pos);
      if (header.every((b) => b === 0)) {
        ended = true;
        break;
      }
      const type = String.fromCharCode(header[156] ?? 0);
      let size = parseSize(header.subarray(124, 136), file, pos);
      if (pending.size !== undefined) size = pending.size;
      const dataAt = pos + 512;
      if (dataAt + size > total) throw invalid(`${file}: tar member at byte ${pos} runs past the end of the archive`);
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataAt);
        pending = type === 'L' ? { ...pending, path: cString(data) } : { ...pending, ...parsePax(data) };
      } else {
        if (type === '0' || type === '\0')
          members.set(normalise(pending.path ?? ustarName(header)), { offset: dataAt, size });
        pending = {};
      }
      pos = dataAt + Math.ceil(size / 512) * 512;
    }
    if (!ended && pos < total)
      throw invalid(`${file}: the archive ends inside a tar header at byte ${pos} (truncated?)`);
  } finally {
    await fh.close();
  }
  return members;
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

function ustarName(h: Buffer): string {
  const name = cString(h.subarray(0, 100));
  const magic = h.subarray(257, 262).toString('latin1');
  const prefix = magic === 'ustar' ? cString(h.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** Octal, or base-256 when the high bit of the first byte is set (GNU/star for sizes over 8 GiB). */
function parseSize(field: Buffer, file: string, pos: number): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (const b of field.subarray(1)) n = n * 256 + b;
    return n;
  }
  const text = cString(field).trim();
  const n = text === '' ? 0 : Number.parseInt(text, 8);
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${file}: bad size field in tar header at byte ${pos}`);
  return n;
}

/** pax records: "LEN key=value\n" (POSIX pax "extended header"). */
function parsePax(data: Buffer): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(data.subarray(i, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    if (key === 'size') out.size = Number.parseInt(value, 10);
    i += len;
  }
  return out;
}

function normalise(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}
