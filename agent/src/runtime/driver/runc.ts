import path from 'node:path';
import { type ErrorKind, failedPrecondition, GantryError, unavailable } from '../../errors.js';
import { type CommandResult, runCommand } from './command.js';

/** `runc state` output (runtime-spec "state" plus runc's extras). */
export interface RuncState {
  id: string;
  /** Host pid of the container's init; 0 once stopped. */
  pid: number;
  /** creating | created | running | paused | stopped */
  status: string;
  bundle: string;
}

/** Bound on every runc call but exec: all of them are quick unless the host is in trouble. */
const RUNC_TIMEOUT_MS = 15_000;

/**
 * The OCI runtime's CLI (runc, or crun which takes the same commands). Every
 * call passes `--root` (our state dir, so containers of other tools are
 * invisible) and `--log-format json` so that the error runc prints on
 * stderr is one JSON object per line, `{"level":"error","msg":...}`, instead
 * of logrus text with Go-quoted strings.
 */
export class RuncCli {
  readonly name: string;

  constructor(
    readonly binary: string,
    readonly root: string,
  ) {
    this.name = path.basename(binary);
  }

  /** Global flags, also what conmon passes to the runtime via --runtime-arg. */
  globalArgs(): string[] {
    return [`--root=${this.root}`, '--log-format=json'];
  }

  async state(id: string): Promise<RuncState | undefined> {
    try {
      const res = await this.call(id, ['state', id]);
      const parsed = JSON.parse(res.stdout) as Partial<RuncState>;
      return {
        id: parsed.id ?? id,
        pid: typeof parsed.pid === 'number' ? parsed.pid : 0,
        status: parsed.status ?? 'unknown',
        bundle: parsed.bundle ?? '',
      };
    } catch (e) {
      if (e instanceof GantryError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    await this.call(id, ['start', id]);
  }

  /** `runc update`: change a created or running container's CPU quota (microseconds per period). */
  async updateCpu(id: string, quota: number, period: number): Promise<void> {
    await this.call(id, ['update', '--cpu-quota', String(quota), '--cpu-period', String(period), id]);
  }

  async pause(id: string): Promise<void> {
    await this.call(id, ['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.call(id, ['resume', id]);
  }

  /** `all` signals every process of the container (runc kill --all), needed when it has no pid namespace of its own. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.call(id, ['kill', ...(all ? ['--all'] : []), id, signal]);
  }

  async delete(id: string, force: boolean): Promise<void> {
    await this.call(id, ['delete', ...(force ? ['--force'] : []), id]);
  }

  /**
   * `runc exec` without a tty. runc exits with the process's own exit status,
   * so a non-zero exit is a result, not an error; a failure of runc itself
   * (no such container, not running, no such program) exits 255 with its
   * JSON error line (runc's exec.go: fatalWithCode(err, 255)).
   */
  async exec(
    id: string,
    args: string[],
    opts: { timeoutMs: number; pidFile: string; onTimeout: () => Promise<void> },
  ): Promise<CommandResult> {
    const res = await this.spawn(['exec', '--pid-file', opts.pidFile, id, ...args], {
      timeoutMs: opts.timeoutMs,
      maxOutputBytes: 64 * 1024,
      onTimeout: opts.onTimeout,
    });
    // runc's own failures exit 255 with a JSON error line; the command's stderr could hold JSON too, so both must hold.
    const message = res.code === 255 ? runtimeMessage(res.stderr, false) : undefined;
    if (!res.timedOut && message !== undefined) throw this.error(id, 'exec', message, res);
    return res;
  }

  private async call(id: string, args: string[]): Promise<CommandResult> {
    const res = await this.spawn(args, { timeoutMs: RUNC_TIMEOUT_MS });
    if (res.timedOut) {
      throw unavailable(`${this.name} ${args[0]} ${id} timed out after ${RUNC_TIMEOUT_MS} ms`, {
        details: { stderr: res.stderr },
      });
    }
    if (res.code !== 0) throw this.error(id, args[0] ?? '', runtimeMessage(res.stderr) ?? `exit ${res.code}`, res);
    return res;
  }

  private async spawn(args: string[], opts: Parameters<typeof runCommand>[2]): Promise<CommandResult> {
    try {
      return await runCommand(this.binary, [...this.globalArgs(), ...args], opts);
    } catch (e) {
      throw failedPrecondition(`cannot run the OCI runtime ${this.binary}`, { cause: e });
    }
  }

  private error(id: string, op: string, message: string, res: CommandResult): GantryError {
    return runtimeError(`${this.name} ${op} ${id}`, message, { stderr: res.stderr, exitCode: res.code });
  }
}

/** A GantryError whose kind follows runc's message (its errors have no codes, only these stable texts). */
export function runtimeError(what: string, message: string, details?: Record<string, unknown>): GantryError {
  return new GantryError(kindOf(message), `${what}: ${message}`, details === undefined ? undefined : { details });
}

/** runc's texts for "valid request, wrong state" (libcontainer/container_linux.go and the CLI commands). */
const WRONG_STATE =
  /not running|not stopped|not paused|already running|has stopped|stopped container|is paused|not created/i;

function kindOf(message: string): ErrorKind {
  if (/does not exist|no such file or directory.*state\.json/i.test(message)) return 'not-found';
  if (/container with id exists|already exists/i.test(message)) return 'already-exists';
  if (WRONG_STATE.test(message)) return 'failed-precondition';
  return 'internal';
}

/**
 * The error text in what runc wrote to stderr: the `msg` of each JSON log
 * line of level error/fatal (--log-format json), else logrus text's
 * `msg="..."`, else (with `fallbackRaw`) the raw text. undefined if none.
 */
export function runtimeMessage(stderr: string, fallbackRaw = true): string | undefined {
  const messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const t = line.trim();
    if (t.startsWith('{')) {
      try {
        const rec = JSON.parse(t) as { level?: unknown; msg?: unknown };
        if ((rec.level === 'error' || rec.level === 'fatal') && typeof rec.msg === 'string') messages.push(rec.msg);
        continue;
      } catch {
        // not JSON after all: fall through
      }
    }
    const logrus = /level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/.exec(t);
    if (logrus?.[1] !== undefined) messages.push(unquoteGo(logrus[1]));
  }
  if (messages.length > 0) return messages.join('; ');
  const raw = stderr.trim();
  return fallbackRaw && raw !== '' ? raw.slice(-2000) : undefined;
}

function unquoteGo(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}
