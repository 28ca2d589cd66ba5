import type { FileHandle } from 'node:fs/promises';

const CHUNK = 64 * 1024;
const NL = 0x0a;

/**
 * Byte offset where the last `n` lines of a k8s-file log begin, found by
 * reading backwards in 64 KiB chunks: cost grows with the tail asked for,
 * not with the file. Lines are logical lines: a run of `P` records and the
 * `F` record that ends it count as one (a last run of `P` records with no
 * `F` yet counts as one too); anything unparsable counts as a line.
 */
export async function tailOffset(fh: FileHandle, size: number, n: number): Promise<number> {
  if (n <= 0) return size;
  let lines = 0;
  let later = size; // start of the record looked at before this one (the next in file order)
  let last = true;
  for await (const start of recordStartsBackward(fh, size)) {
    const partial = (await tagAt(fh, start)) === 'P';
    // A P record belongs to the line its following records end, already counted, unless it is the last record.
    if (!partial || last) lines += 1;
    last = false;
    if (lines > n) return later;
    later = start;
  }
  return 0;
}

/** Record start offsets, last record first. A record starts at 0 or just after a newline. */
async function* recordStartsBackward(fh: FileHandle, size: number): AsyncGenerator<number> {
  let end = size;
  // The file's last byte is normally the last record's newline: that is an end, not a start.
  const skipAt = size - 1;
  while (end > 0) {
    const from = Math.max(0, end - CHUNK);
    const buf = Buffer.alloc(end - from);
    await readFully(fh, buf, from);
    for (let i = buf.length - 1; i >= 0; i--) {
      if (buf[i] === NL && from + i !== skipAt) yield from + i + 1;
    }
    end = from;
  }
  if (size > 0) yield 0;
}

/** The F/P tag of the record starting at `offset`: the third space-separated field. */
async function tagAt(fh: FileHandle, offset: number): Promise<string | undefined> {
  const buf = Buffer.alloc(96); // "2006-01-02T15:04:05.999999999+07:00 stdout F " is 46 bytes
  const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
  const head = buf.subarray(0, bytesRead).toString('latin1');
  const fields = head.split(' ', 3);
  return fields.length === 3 ? fields[2]?.slice(0, 1) : undefined;
}

export async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
