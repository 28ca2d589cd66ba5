import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { readPid } from './conmon.js';
import type { RuncCli } from './runc.js';

/**
 * `runc exec` without a tty (health probes), bounded by `timeoutMs`. On
 * timeout, killing runc alone would leave the command running in the
 * container (its parent gone, reparented to the container's init), so the
 * command itself is killed first: runc writes its host pid to --pid-file,
 * and without a tty runc makes it a session leader (setsid), so its process
 * group also holds whatever it started. A timed-out command reports 137.
 */
export async function execInContainer(
  runc: RuncCli,
  scratchDir: string,
  id: string,
  args: string[],
  timeoutMs: number,
): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
  const pidFile = path.join(scratchDir, `exec-${id}-${randomUUID()}.pid`);
  const onTimeout = async () => {
    const pid = await readPid(pidFile);
    if (pid === undefined) return;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
        return;
      } catch {
        // not a group leader after all: the pid alone
      }
    }
  };
  try {
    const res = await runc.exec(id, args, { timeoutMs, pidFile, onTimeout });
    const bySignal = res.signal === null ? undefined : 128 + (constants.signals[res.signal] ?? 0);
    return {
      exitCode: res.timedOut ? 137 : (res.code ?? bySignal ?? -1),
      output: res.combined,
      timedOut: res.timedOut,
    };
  } finally {
    await rm(pidFile, { force: true });
  }
}
