import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  alreadyExists,
  failedPrecondition,
  internal,
  invalid,
  isGantryError,
  notFound,
  unavailable,
} from '../../errors.js';
import type { CgroupLayout } from '../../host/cgroups.js';
import type { ContainerRuntime, ContainerState, ContainerStats, ContainerStatus, ExitInfo } from '../types.js';
import { type CgroupPaths, readCgroupStats, resolveCgroupPaths } from './cgroup-stats.js';
import { CONMON_PIDFILE, isConmonOf, launchConmon, readPid } from './conmon.js';
import { execInContainer } from './exec.js';
import { exists, readExit, waitForFile } from './exit.js';
import { RuncCli } from './runc.js';
import { checkId, StateDir } from './state-dir.js';
import { defaultRuntime, findExecutable } from './tools.js';

export interface ConmonRuntimeOptions {
  /** Directory for runtime state: runc --root, per-container conmon dirs (exit, persist, pidfiles). Must survive agent restarts (under the agent's data dir). */
  stateDir: string;
  /** Default: runc from PATH (crun only where it works: see tools.ts). */
  runtimePath?: string;
  /** Default: conmon from PATH. */
  conmonPath?: string;
  cgroupLayout: CgroupLayout;
  log?: Logger;
}

/** conmon + `runc create`: tens of ms on a PC, seconds on a loaded ARM board. */
const CREATE_TIMEOUT_MS = 30_000;
/** Exit-file poll, behind the inotify watch. */
const EXIT_POLL_MS = 500;
/** After SIGKILL, the time conmon gets to reap the container and write its exit file. */
const KILL_WAIT_MS = 10_000;
/** After `runc delete`, the time conmon gets to finish (drain logs, write files) before we remove its dir. */
const CONMON_EXIT_MS = 5_000;

/**
 * ContainerRuntime over conmon and runc. Nothing lives in this object but
 * paths and tool locations: every answer comes from runc's root and the
 * files conmon writes, so a new instance on the same stateDir (an agent
 * restarted, or kill -9ed) sees the containers, and the exits, of an old one.
 */
export class ConmonRuntime implements ContainerRuntime {
  private readonly dir: StateDir;
  private tools: Promise<{ runc: RuncCli; conmon: string }> | undefined;

  constructor(private readonly opts: ConmonRuntimeOptions) {
    this.dir = new StateDir(path.resolve(opts.stateDir));
  }

  async create(id: string, bundle: string, opts: { logPath: string; logSizeMax: number }): Promise<ContainerState> {
    checkId(id);
    // conmon splits -l at ':' into driver and path (ctr_logging.c, parse_log_path).
    if (opts.logPath.includes(':')) throw invalid(`log path ${opts.logPath} of container ${id} must not contain ':'`);
    const { runc, conmon } = await this.ready();
    if ((await runc.state(id)) !== undefined) throw alreadyExists(`container ${id} already exists`);
    const dir = await this.dir.prepare(id);
    const logPath = path.resolve(opts.logPath);
    await mkdir(path.dirname(logPath), { recursive: true });
    const t0 = performance.now();
    const { exitsDir, socketsDir } = this.dir;
    const launch = { conmon, runtime: runc, id, bundle: path.resolve(bundle), dir, exitsDir, socketsDir, logPath };
    let started: { pid: number; conmonPid: number | undefined };
    try {
      started = await launchConmon({ ...launch, logSizeMax: opts.logSizeMax, timeoutMs: CREATE_TIMEOUT_MS });
    } catch (e) {
      // Whatever got half made (a conmon killed on timeout leaves a created container) must not linger.
      await runc.delete(id, true).catch(() => undefined);
      await this.dir.remove(id);
      throw e;
    }
    await this.recordCgroups(id, started.pid);
    this.opts.log?.debug({ id, pid: started.pid, conmonPid: started.conmonPid, ms: performance.now() - t0 }, 'created');
    return { id, status: 'created', pid: started.pid, ...optional('conmonPid', started.conmonPid) };
  }

  async start(id: string): Promise<void> {
    await (await this.ready()).runc.start(checkId(id));
  }

  async state(id: string): Promise<ContainerState | undefined> {
    const { runc } = await this.ready();
    const rs = await runc.state(checkId(id));
    if (rs === undefined) return undefined;
    const [exit, conmonPid] = await Promise.all([this.exitOf(id), this.liveConmon(id)]);
    const status = exit !== undefined ? 'stopped' : toStatus(rs.status);
    return {
      id,
      status,
      pid: status === 'stopped' ? 0 : rs.pid,
      ...optional('conmonPid', conmonPid),
      ...optional('exit', exit),
    };
  }

  async list(): Promise<string[]> {
    await this.ready();
    return this.dir.runcIds();
  }

  async kill(id: string, signal: NodeJS.Signals): Promise<void> {
    await (await this.ready()).runc.kill(checkId(id), signal);
  }

  async stop(id: string, graceMs: number): Promise<ExitInfo> {
    const { runc } = await this.ready();
    const st = await this.state(id);
    if (st === undefined) throw notFound(`container ${id} does not exist`);
    if (st.exit !== undefined) return st.exit;
    // A frozen process cannot act on SIGTERM, and a v1 freezer holds even SIGKILLed tasks until thawed.
    if (st.status === 'paused') await runc.resume(id);
    if (st.status !== 'stopped') {
      if (graceMs > 0 && st.status !== 'created') {
        await this.signal(id, 'TERM', false);
        const exit = await this.waitExitWithin(id, graceMs);
        if (exit !== undefined) return exit;
        this.opts.log?.info({ id, graceMs }, 'container ignored SIGTERM; sending SIGKILL');
      }
      await this.signal(id, 'KILL', true);
    }
    const exit = await this.waitExitWithin(id, KILL_WAIT_MS);
    if (exit === undefined) throw unavailable(`container ${id} did not exit within ${KILL_WAIT_MS} ms of SIGKILL`);
    return exit;
  }

  async setCpuQuota(id: string, quota: number, period: number): Promise<void> {
    await (await this.ready()).runc.updateCpu(checkId(id), quota, period);
  }

  async pause(id: string): Promise<void> {
    await (await this.ready()).runc.pause(checkId(id));
  }

  async resume(id: string): Promise<void> {
    await (await this.ready()).runc.resume(checkId(id));
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const { runc } = await this.ready();
    const rs = await runc.state(checkId(id));
    if (rs !== undefined && rs.status !== 'stopped') {
      if (opts.force !== true)
        throw failedPrecondition(`container ${id} is ${rs.status}: stop it, or delete with force`);
      if (rs.status === 'paused') await runc.resume(id).catch(() => undefined);
      await this.signal(id, 'KILL', true);
      await this.waitExitWithin(id, KILL_WAIT_MS).catch(() => undefined);
    }
    if (rs !== undefined) {
      await runc.delete(id, true).catch((e: unknown) => {
        if (!isGantryError(e, 'not-found')) throw e;
      });
    }
    await this.reapConmon(id);
    await this.dir.remove(id);
    if (rs?.bundle) await removeConmonFiles(rs.bundle);
  }

  async waitExit(id: string, signal?: AbortSignal): Promise<ExitInfo> {
    const { runc } = await this.ready();
    const done = await this.exitOf(checkId(id));
    if (done !== undefined) return done;
    if (!(await this.dir.exists(id))) {
      if ((await runc.state(id)) === undefined) throw notFound(`container ${id} does not exist`);
      throw failedPrecondition(
        `container ${id} was not started by conmon under ${this.dir.root}: its exit cannot be known`,
      );
    }
    const conmonPid = await readPid(path.join(this.dir.containerDir(id), CONMON_PIDFILE));
    const exitFile = this.dir.exitFile(id);
    await waitForFile(this.dir.exitsDir, id, {
      signal,
      pollMs: EXIT_POLL_MS,
      // conmon writes the exit file before it exits: gone and no file means the status is lost for good.
      onPoll: async () => {
        if (conmonPid === undefined || (await isConmonOf(conmonPid, id)) || (await exists(exitFile))) return;
        throw failedPrecondition(
          `container ${id} is no longer monitored: its conmon (pid ${conmonPid}) is gone and wrote no exit status`,
        );
      },
    });
    const exit = await this.exitOf(id);
    if (exit === undefined) throw internal(`the exit file of container ${id} appeared but cannot be read`);
    return exit;
  }

  async exec(id: string, args: string[], timeoutMs: number) {
    const { runc } = await this.ready();
    return execInContainer(runc, this.dir.root, checkId(id), args, timeoutMs);
  }

  async stats(id: string): Promise<ContainerStats> {
    const { runc } = await this.ready();
    const rs = await runc.state(checkId(id));
    if (rs === undefined) throw notFound(`container ${id} does not exist`);
    const paths = (await this.dir.loadCgroups(id)) ?? (rs.pid > 0 ? await this.cgroupsOf(rs.pid) : undefined);
    if (paths === undefined) throw failedPrecondition(`cannot find the cgroup of container ${id}`);
    return readCgroupStats(id, paths);
  }

  private ready(): Promise<{ runc: RuncCli; conmon: string }> {
    this.tools ??= this.resolveTools().catch((e: unknown) => {
      this.tools = undefined; // a missing tool may be installed later: look again next time
      throw e;
    });
    return this.tools;
  }

  private async resolveTools(): Promise<{ runc: RuncCli; conmon: string }> {
    await this.dir.init();
    const conmon = this.opts.conmonPath ?? (await findExecutable('conmon'));
    if (conmon === undefined) throw failedPrecondition('conmon is not installed (not found on PATH)');
    const runtime = this.opts.runtimePath ?? (await defaultRuntime(this.opts.cgroupLayout));
    this.opts.log?.debug({ conmon, runtime, stateDir: this.dir.root }, 'container runtime ready');
    return { runc: new RuncCli(runtime, this.dir.runcRoot), conmon };
  }

  private async exitOf(id: string): Promise<ExitInfo | undefined> {
    return readExit(this.dir.exitFile(id), this.dir.containerDir(id), await this.dir.loadCgroups(id));
  }

  private async liveConmon(id: string): Promise<number | undefined> {
    const pid = await readPid(path.join(this.dir.containerDir(id), CONMON_PIDFILE));
    return pid !== undefined && (await isConmonOf(pid, id)) ? pid : undefined;
  }

  /** runc kill; "not running" means it exited meanwhile, which is what we wanted. */
  private async signal(id: string, sig: string, all: boolean): Promise<void> {
    const { runc } = await this.ready();
    await runc.kill(id, sig, all).catch((e: unknown) => {
      if (!isGantryError(e, 'failed-precondition')) throw e;
    });
  }

  private async waitExitWithin(id: string, ms: number): Promise<ExitInfo | undefined> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ms);
    try {
      return await this.waitExit(id, ac.signal);
    } catch (e) {
      if (ac.signal.aborted) return undefined;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wait for the container's conmon to finish; past the deadline it is killed, so it cannot write into a removed dir. */
  private async reapConmon(id: string): Promise<void> {
    const pid = await readPid(path.join(this.dir.containerDir(id), CONMON_PIDFILE));
    if (pid === undefined) return;
    const deadline = Date.now() + CONMON_EXIT_MS;
    while (await isConmonOf(pid, id)) {
      if (Date.now() > deadline) {
        this.opts.log?.warn({ id, pid }, 'conmon did not exit after delete; killing it');
        process.kill(pid, 'SIGKILL');
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async recordCgroups(id: string, pid: number): Promise<void> {
    const paths = await this.cgroupsOf(pid);
    if (paths !== undefined) await this.dir.saveCgroups(id, paths);
    else this.opts.log?.warn({ id, pid }, 'cannot find the container cgroup: no stats or OOM counter');
  }

  private async cgroupsOf(pid: number): Promise<CgroupPaths | undefined> {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : resolveCgroupPaths(text, this.opts.cgroupLayout);
  }
}

function toStatus(runcStatus: string): ContainerStatus {
  if (runcStatus === 'creating' || runcStatus === 'created') return 'created';
  if (runcStatus === 'running' || runcStatus === 'paused') return runcStatus;
  return 'stopped';
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** conmon 2.1.6 makes the attach socket and the `ctl`/`winsz` fifos in the bundle dir; only those are removed. */
async function removeConmonFiles(bundle: string): Promise<void> {
  for (const name of ['attach', 'ctl', 'winsz']) {
    const file = path.join(bundle, name);
    const st = await lstat(file).catch(() => undefined);
    if (st?.isSocket() || st?.isFIFO()) await rm(file, { force: true });
  }
}
