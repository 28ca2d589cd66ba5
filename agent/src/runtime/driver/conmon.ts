import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { failedPrecondition, unavailable } from '../../errors.js';
import type { RuncCli } from './runc.js';
import { runtimeError, runtimeMessage } from './runc.js';

export interface ConmonLaunch {
  conmon: string;
  runtime: RuncCli;
  id: string;
  bundle: string;
  /** The container's own directory: conmon's cwd and --persist-dir, pid files. */
  dir: string;
  exitsDir: string;
  socketsDir: string;
  logPath: string;
  logSizeMax: number;
  timeoutMs: number;
}

export const CONTAINER_PIDFILE = 'pidfile';
export const CONMON_PIDFILE = 'conmon.pid';

/**
 * conmon's arguments as podman gives them (libpod/oci_conmon_common.go,
 * sharedConmonArgs + createOCIContainer), minus what we do not use: no
 * terminal, no stdin, no exit command, no syslog, no --full-attach (conmon
 * 2.1.6 then puts the attach socket, `ctl` and `winsz` fifos in the bundle
 * dir and a symlink to it under --socket-dir-path).
 */
export function conmonArgs(l: ConmonLaunch): string[] {
  // biome-ignore format: one flag and its value per line
  const args = [
    '--api-version', '1',
    '-c', l.id,
    '-u', l.id,
    '-n', l.id,
    '-r', l.runtime.binary,
    '-b', l.bundle,
    '-p', path.join(l.dir, CONTAINER_PIDFILE),
    '--conmon-pidfile', path.join(l.dir, CONMON_PIDFILE),
    '--exit-dir', l.exitsDir,
    '--persist-dir', l.dir,
    '--socket-dir-path', l.socketsDir,
    '-l', `k8s-file:${l.logPath}`,
  ];
  // conmon treats <= 0 as "no limit"; above the limit it starts a new file (ctr_logging.c, reopen_k8s_file).
  if (l.logSizeMax > 0) args.push('--log-size-max', String(Math.floor(l.logSizeMax)));
  for (const flag of l.runtime.globalArgs()) args.push('--runtime-arg', flag);
  return args;
}

/**
 * Spawn conmon for one container and wait until the runtime has created it.
 *
 * conmon forks once and the first process exits (unless --sync), so the
 * monitor is reparented away from us; it calls setsid() itself, and we spawn
 * it detached too, so a signal to the agent's process group (Ctrl-C, a
 * service manager stopping us, kill -9 of the group) never reaches it.
 * Before forking it blocks on a read of _OCI_STARTPIPE (fd 4); after
 * `runc create` it writes `{"data": <pid>}` to _OCI_SYNCPIPE (fd 3), or
 * `{"data": -1, "message": "<runtime stderr>"}` on failure (conmon.c,
 * write_sync_fd). conmon keeps fd 3 open; we stop reading after one line.
 *
 * Resolves with the container's init pid and conmon's pid.
 */
export async function launchConmon(l: ConmonLaunch): Promise<{ pid: number; conmonPid: number | undefined }> {
  const env: NodeJS.ProcessEnv = { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' };
  // podman drops these: conmon would relay sd_notify, and socket activation is the agent's, not the app's.
  for (const k of ['NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete env[k];
  const child = spawn(l.conmon, conmonArgs(l), {
    cwd: l.dir, // conmon also writes its `oom` file into its cwd (cgroup.c, write_oom_files)
    detached: true,
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  // A conmon that dies early turns our writes and reads into EPIPE/ECONNRESET: the sync result reports that instead.
  for (const s of child.stdio) (s as Readable | Writable | null)?.on('error', () => undefined);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 8192) stderr += c.toString('utf8');
  });
  try {
    const [sync] = await Promise.all([
      readSyncLine(child, l.id, l.timeoutMs, () => stderr),
      firstProcessExit(child, l.id, l.timeoutMs, () => stderr),
      new Promise<void>((resolve) => (child.stdio[4] as Writable).end('0', resolve)),
    ]);
    const report = parseSync(sync);
    if (report.data === undefined || report.data < 0) {
      const message = runtimeMessage(report.message ?? '') ?? 'no message from the runtime';
      throw runtimeError(`${l.runtime.name} create ${l.id}`, message, { stderr: report.message });
    }
    return { pid: report.data, conmonPid: await readPid(path.join(l.dir, CONMON_PIDFILE)) };
  } catch (e) {
    child.kill('SIGKILL');
    const monitor = await readPid(path.join(l.dir, CONMON_PIDFILE));
    if (monitor !== undefined && (await isConmonOf(monitor, l.id))) process.kill(monitor, 'SIGKILL');
    throw e;
  } finally {
    for (const s of child.stdio) (s as Readable | Writable | null)?.destroy();
    child.unref();
  }
}

function readSyncLine(child: ChildProcess, id: string, timeoutMs: number, stderr: () => string): Promise<string> {
  const pipe = child.stdio[3] as Readable;
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      reject(
        unavailable(`conmon did not report container ${id} created within ${timeoutMs} ms`, {
          details: { stderr: stderr() },
        }),
      );
    }, timeoutMs);
    pipe.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl));
      }
    });
    pipe.once('close', () => {
      clearTimeout(timer);
      const why = stderr().trim() || 'no output';
      reject(
        failedPrecondition(`conmon exited before container ${id} was created: ${why}`, { details: { stderr: why } }),
      );
    });
  });
}

function firstProcessExit(child: ChildProcess, id: string, timeoutMs: number, stderr: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(unavailable(`conmon for container ${id} did not daemonize within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(failedPrecondition(`cannot run conmon for container ${id}: ${e.message}`, { cause: e }));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      // The first process exits 0 right after forking the monitor; anything else failed before (bad flags).
      if (code === 0) resolve();
      else reject(failedPrecondition(`conmon for container ${id} exited with ${code}: ${stderr().trim()}`));
    });
  });
}

function parseSync(line: string): { data?: number; message?: string } {
  try {
    return JSON.parse(line) as { data?: number; message?: string };
  } catch (e) {
    throw failedPrecondition(`conmon sent an unreadable sync message: ${JSON.stringify(line)}`, { cause: e });
  }
}

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt(await readFile(file, 'utf8'), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live conmon monitoring container `id` (its argv has `-c id`): pid reuse safe. */
export async function isConmonOf(pid: number, id: string): Promise<boolean> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    const c = argv.indexOf('-c');
    return path.basename(argv[0] ?? '') === 'conmon' && c >= 0 && argv[c + 1] === id;
  } catch {
    return false;
  }
}
