import { type FSWatcher, watch } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../../errors.js';
import type { ExitInfo } from '../types.js';
import { type CgroupPaths, readOomKills } from './cgroup-stats.js';

/**
 * How a container ended, from what conmon left: `<exit-dir>/<id>` holds the
 * status as a decimal string, written with g_file_set_contents (a temp file
 * renamed into place, so it is never seen half-written) after the container
 * is reaped: WEXITSTATUS, or 128+signal when a signal killed it
 * (conmon.c, get_exit_status). Its mtime is when the container ended, even
 * if no agent was running then. The persist dir's `exit` is the same value.
 *
 * OOM: conmon creates `oom` in the persist dir (and its cwd) when the memory
 * cgroup reports an OOM event (cgroup.c: an eventfd on v1's
 * memory.oom_control, inotify on v2's memory.events). The cgroup's own
 * `oom_kill` counter is checked too, for as long as the cgroup exists.
 */
export async function readExit(
  exitFile: string,
  persistDir: string,
  cgroups: CgroupPaths | undefined,
): Promise<ExitInfo | undefined> {
  for (const file of [exitFile, path.join(persistDir, 'exit')]) {
    let text: string;
    let finishedAt: Date;
    try {
      [text, finishedAt] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mtime)]);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') continue;
      throw e;
    }
    const exitCode = Number.parseInt(text.trim(), 10);
    if (!Number.isSafeInteger(exitCode)) continue;
    return { exitCode, oomKilled: await oomKilled(persistDir, cgroups), finishedAt: finishedAt.toISOString() };
  }
  return undefined;
}

async function oomKilled(persistDir: string, cgroups: CgroupPaths | undefined): Promise<boolean> {
  if (await exists(path.join(persistDir, 'oom'))) return true;
  if (cgroups === undefined) return false;
  return ((await readOomKills(cgroups).catch(() => undefined)) ?? 0) > 0;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export interface WaitFileOptions {
  signal?: AbortSignal | undefined;
  /** Poll period, the fallback for when inotify misses or cannot watch (ENOSPC on watches). */
  pollMs: number;
  /** Run at each poll while the file is absent; throwing ends the wait with that error. */
  onPoll?: () => Promise<void>;
}

/**
 * Resolves once `dir/name` exists. fs.watch on the directory (conmon renames
 * the file into place, an IN_MOVED_TO on the dir) wakes it at once; a poll
 * backs that up. The first check runs after the watch is set, so a file that
 * appears in between is not missed.
 */
export function waitForFile(dir: string, name: string, opts: WaitFileOptions): Promise<void> {
  const { signal } = opts;
  return new Promise<void>((resolve, reject) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const check = async () => {
      if (await exists(path.join(dir, name))) finish();
    };
    try {
      watcher = watch(dir, (_event, file) => {
        if (file === name) void check();
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      // No watch: the poll alone finds it.
    }
    const poll = async () => {
      try {
        await check();
        if (!done) await opts.onPoll?.();
      } catch (e) {
        finish(e);
      }
      if (!done) timer = setTimeout(poll, opts.pollMs);
    };
    void poll();
  });
}
