import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../../errors.js';
import type { LogLine } from '../types.js';
import { logLineMillis, parseLogLine } from './log-line.js';
import { readFully, tailOffset } from './log-tail.js';

export interface ReadLogsOptions {
  /** Only the last N lines (a line split by conmon into P records counts once). */
  tail?: number;
  /** Only lines written at or after this time. */
  since?: Date;
  /** Keep reading as the container writes, until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
}

/** How often a follower looks at the file when no inotify event came (a missed event, or no watch possible). */
const POLL_MS = 500;
const CHUNK = 64 * 1024;

/**
 * Read a conmon k8s-file log, optionally following it.
 *
 * With --log-size-max, conmon 2.1.6 does not append forever: when the next
 * record would pass the cap it opens `<path>.tmp` (O_TRUNC), renames it over
 * `<path>` and goes on writing there (ctr_logging.c, reopen_k8s_file); the old
 * content is gone, so a file never exceeds the cap by more than one record.
 * A follower sees a new inode at the path: it first reads what is left of the
 * old file through the descriptor it still holds, then starts the new file
 * from its beginning. A file that shrinks in place (truncated by someone
 * else) is also read again from the start. A follower that wakes only after
 * several replacements has lost the files in between, as `tail -F` would.
 *
 * A missing file yields nothing (or, when following, is waited for). A last
 * record without its newline is a write in progress: it is held back until
 * completed, and dropped when not following.
 */
export async function* readLogs(file: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogLine> {
  const since = opts.since?.getTime();
  const { signal } = opts;
  let cur = await Cursor.open(file);
  if (cur === undefined && !opts.follow) return;
  const waker = opts.follow ? new Waker(file, signal) : undefined;
  try {
    if (cur !== undefined && opts.tail !== undefined) {
      cur.pos = await tailOffset(cur.fh, (await cur.fh.stat()).size, Math.max(0, Math.floor(opts.tail)));
    }
    for (;;) {
      if (signal?.aborted) return;
      if (cur !== undefined) yield* records(cur, since);
      if (waker === undefined) return;
      await waker.wait();
      if (signal?.aborted) return;
      const next = await follow(file, cur);
      if (cur === undefined || next === cur) {
        cur = next;
        continue;
      }
      try {
        // Replaced: what conmon wrote to the old file before the switch is still readable through our descriptor.
        yield* records(cur, since);
      } finally {
        await cur.close();
        cur = next;
      }
    }
  } finally {
    waker?.close();
    await cur?.close();
  }
}

async function* records(cur: Cursor, since: number | undefined): AsyncGenerator<LogLine> {
  for await (const text of cur.drain()) {
    const line = parseLogLine(text);
    if (line !== undefined && (since === undefined || logLineMillis(line) >= since)) yield line;
  }
}

/** After a wake-up: the file to read next: the same one (rewound if it shrank) or the one now at the path. */
async function follow(file: string, cur: Cursor | undefined): Promise<Cursor | undefined> {
  const st = await stat(file).catch((e: unknown) => {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  });
  if (st === undefined) return cur;
  if (cur === undefined || st.ino !== cur.ino || st.dev !== cur.dev) return (await Cursor.open(file)) ?? cur;
  if (st.size < cur.pos) cur.rewind();
  return cur;
}

/** An open log file and how far into it we have read. */
class Cursor {
  pos = 0;
  private rest: Buffer = Buffer.alloc(0);

  private constructor(
    readonly fh: FileHandle,
    readonly ino: number,
    readonly dev: number,
  ) {}

  static async open(file: string): Promise<Cursor | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw e;
    }
    const st = await fh.stat();
    return new Cursor(fh, st.ino, st.dev);
  }

  rewind(): void {
    this.pos = 0;
    this.rest = Buffer.alloc(0);
  }

  /** Complete records from `pos` to the current end of the file. */
  async *drain(): AsyncGenerator<string> {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = await readFully(this.fh, buf, this.pos);
      if (n === 0) break;
      this.pos += n;
      let chunk = Buffer.concat([this.rest, buf.subarray(0, n)]);
      let nl = chunk.indexOf(0x0a);
      while (nl >= 0) {
        yield chunk.subarray(0, nl).toString('utf8');
        chunk = chunk.subarray(nl + 1);
        nl = chunk.indexOf(0x0a);
      }
      this.rest = Buffer.from(chunk);
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** Wakes a follower: inotify events on the log's directory for its name, a poll, or the abort. */
class Waker {
  private pending = false;
  private resolve: (() => void) | undefined;
  private readonly watcher: FSWatcher | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.wake();

  constructor(
    file: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    const base = path.basename(file);
    try {
      // The directory, not the file: conmon replaces the file, and a watch on the old inode would go quiet.
      this.watcher = watch(path.dirname(file), (_event, name) => {
        if (name === base) this.wake();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = undefined;
    }
    this.timer = setInterval(() => this.wake(), POLL_MS);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  wake(): void {
    const r = this.resolve;
    this.resolve = undefined;
    if (r !== undefined) r();
    else this.pending = true;
  }

  wait(): Promise<void> {
    if (this.pending || this.signal?.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((r) => {
      this.resolve = r;
    });
  }

  close(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
