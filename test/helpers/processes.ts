import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { withTimeout } from './timeout.js';

/**
 * Every peer a test starts goes through here, so that a test that throws
 * before its teardown still leaves no mosquitto or registry behind: whatever
 * is alive when the test process exits gets SIGKILL.
 */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface Peer {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | string>;
}

export function spawnPeer(cmd: string, args: string[], opts: SpawnOptions = {}): Peer {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (e) => {
      out += `\nspawn error: ${e.message}`;
      live.delete(child);
      resolve('spawn-error');
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      try {
        return await withTimeout(exited, graceMs, `${cmd} to exit after SIGTERM`);
      } catch {
        child.kill('SIGKILL');
        return withTimeout(exited, 5000, `${cmd} to exit after SIGKILL`);
      }
    },
  };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion, bounded in time. */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const { timeoutMs = 60_000, input, ...spawnOpts } = opts;
  return withTimeout(
    new Promise<RunResult>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOpts });
      live.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
      });
      child.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString('utf8');
      });
      child.once('error', (e) => {
        live.delete(child);
        reject(e);
      });
      child.once('close', (code, signal) => {
        live.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
      // A child that exits without reading stdin (htpasswd, openssl) must not turn into an EPIPE crash.
      child.stdin?.on('error', () => {});
      child.stdin?.end(input ?? '');
    }),
    timeoutMs,
    `${cmd} ${args.join(' ')}`,
  );
}
