/**
 * One socat pty pair per serial port: a null-modem cable whose app end the
 * simulator's devices open as the port, and whose far end the Modbus
 * responder answers on.
 *
 *   socat pty,raw,echo=0,link=DIR/<port> pty,raw,echo=0,link=DIR/<port>.far
 *
 * socat outlives a simulator killed with SIGKILL (Node has no parent-death
 * signal); every other way out kills it, `killNow` synchronously from an
 * 'exit' handler.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { failedPrecondition } from '../../../agent/src/errors.js';

export interface PtyLink {
  port: string;
  /** The end the app side (createDevices) opens as the port. */
  appPath: string;
  /** The end the responder answers on. */
  farPath: string;
  /** socat's pid. */
  pid: number;
}

export interface PtyPairs {
  readonly links: PtyLink[];
  /** SIGTERM every socat and wait for it to go (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL every socat still running, synchronously. */
  killNow(): void;
}

export const SOCAT_INSTALL_HINT =
  'socat is needed for the simulated serial ports: install it with `apt-get install socat` (Debian/Ubuntu), ' +
  '`dnf install socat` (Fedora) or `brew install socat` (macOS), or run scripts/setup-host as root';

/** socat's path on PATH, or undefined. */
export function findSocat(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v socat'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A logical port name as a file name in DIR (profile names are tame; this keeps a stray "/" from escaping). */
export function linkName(port: string): string {
  return port.replace(/[^A-Za-z0-9._-]/g, '_');
}

export async function startPtyPairs(
  ports: string[],
  dir: string,
  opts: { socat: string; startTimeoutMs?: number },
): Promise<PtyPairs> {
  const started: Array<{ link: PtyLink; child: ChildProcess; exited: Promise<void> }> = [];
  const pairs: PtyPairs = {
    get links() {
      return started.map((s) => s.link);
    },
    async stop(graceMs = 3000) {
      await Promise.all(
        started.map(async (s) => {
          if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
          const timer = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
          await s.exited;
          clearTimeout(timer);
        }),
      );
    },
    killNow() {
      for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    },
  };
  try {
    for (const port of ports) {
      const appPath = path.join(dir, linkName(port));
      const farPath = `${appPath}.far`;
      const child = spawn(opts.socat, [`pty,raw,echo=0,link=${appPath}`, `pty,raw,echo=0,link=${farPath}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => {
        stderr = (stderr + c.toString('utf8')).slice(-4000);
      });
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', (e) => {
          stderr += `\n${e.message}`;
          resolve();
        });
      });
      started.push({ link: { port, appPath, farPath, pid: child.pid ?? -1 }, child, exited });
      await untilLinked(child, [appPath, farPath], opts.startTimeoutMs ?? 5000, () => stderr, port);
    }
  } catch (e) {
    await pairs.stop();
    throw e;
  }
  return pairs;
}

async function untilLinked(
  child: ChildProcess,
  files: string[],
  timeoutMs: number,
  output: () => string,
  port: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw failedPrecondition(`socat for serial port ${port} exited at start: ${output().trim() || 'no output'}`);
    }
    const present = await Promise.all(
      files.map((f) =>
        access(f).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (present.every(Boolean)) return;
    if (Date.now() > deadline) {
      throw failedPrecondition(
        `socat for serial port ${port} did not create ${files.join(' and ')} within ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
