import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived (exec output). */
  combined: string;
  timedOut: boolean;
}

export interface CommandOptions {
  timeoutMs: number;
  /** Each captured stream keeps at most this many bytes, the last ones (default 1 MiB). */
  maxOutputBytes?: number;
  /** Called once on timeout, before the SIGKILL of the command itself (e.g. to kill what runc exec started). */
  onTimeout?: () => Promise<void> | void;
}

/** After the process exits, how long its pipes may stay open (a grandchild holding them) before we stop reading. */
const PIPE_DRAIN_MS = 1000;

/**
 * Run a command to completion, bounded in time: on timeout it gets SIGKILL
 * and the result says `timedOut`. Never rejects for a non-zero exit, only
 * when the command cannot be spawned at all (ENOENT, EACCES). Nothing is left
 * running or open: the process is reaped and its pipes destroyed.
 */
export function runCommand(cmd: string, args: string[], opts: CommandOptions): Promise<CommandResult> {
  const max = opts.maxOutputBytes ?? 1024 * 1024;
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new Capture(max);
    const err = new Capture(max);
    const both = new Capture(max);
    let timedOut = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(drainTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (exited === undefined) return;
      resolve({ ...exited, stdout: out.text(), stderr: err.text(), combined: both.text(), timedOut });
    };
    const timer = setTimeout(async () => {
      timedOut = true;
      try {
        await opts.onTimeout?.();
      } catch {
        // Best effort: the SIGKILL below still ends the command.
      }
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout?.on('data', (c: Buffer) => {
      out.add(c);
      both.add(c);
    });
    child.stderr?.on('data', (c: Buffer) => {
      err.add(c);
      both.add(c);
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      exited = { code, signal };
      drainTimer = setTimeout(finish, PIPE_DRAIN_MS);
    });
    child.once('close', finish);
  });
}

/** Keeps the last `max` bytes written to it. */
class Capture {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 1) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}
