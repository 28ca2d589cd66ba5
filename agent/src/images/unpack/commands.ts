import { spawn } from 'node:child_process';
import { failedPrecondition, internal } from '../../errors.js';

/**
 * The few host tools the unpacker runs: coreutils `mknod`/`mkfifo` (Node has
 * no mknod) and `setfattr` from Debian `attr` (Node has no xattr calls).
 * Arguments are always absolute paths inside the root, so none can be read
 * as an option; every run is bounded in time.
 */

export interface ToolResult {
  code: number | null;
  stderr: string;
}

const PACKAGES: Record<string, string> = { mknod: 'coreutils', mkfifo: 'coreutils', setfattr: 'attr' };

export function runTool(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 1_000_000) stderr += s;
    });
    child.once('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        reject(failedPrecondition(`${cmd} is not installed (Debian package ${PACKAGES[cmd] ?? cmd})`, { cause: e }));
      else reject(internal(`could not run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      resolve({ code, stderr: signal ? `${stderr}killed by ${signal}` : stderr });
    });
    // EPIPE when the tool exits before reading everything: its exit status tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Run a tool that must succeed; its stderr becomes the error. */
export async function mustRun(cmd: string, args: string[], what: string): Promise<void> {
  const r = await runTool(cmd, args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`${what}: ${cmd} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** A character or block device, or a fifo, created with mode 0600 (the caller sets owner and mode after). */
export function makeNode(abs: string, type: 'c' | 'b' | 'p', major = 0, minor = 0): Promise<void> {
  if (type === 'p') return mustRun('mkfifo', ['-m', '0600', abs], 'mkfifo');
  return mustRun('mknod', ['-m', '0600', abs, type, String(major), String(minor)], 'mknod');
}

/** The overlayfs whiteout: a 0:0 character device (kernel Documentation/filesystems/overlayfs.rst "whiteouts"). */
export function makeWhiteoutDevice(abs: string): Promise<void> {
  return mustRun('mknod', ['-m', '0000', abs, 'c', '0', '0'], 'overlay whiteout');
}
