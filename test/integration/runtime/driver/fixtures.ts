import { copyFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type CgroupLayout, detectCgroupLayout } from '../../../../agent/src/host/cgroups.js';
import { ConmonRuntime } from '../../../../agent/src/runtime/driver/index.js';
import { run } from '../../../helpers/processes.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

export const TOOLS = ['runc', 'conmon', 'busybox'];
export const MiB = 1024 * 1024;

let counter = 0;
/** Unique per test run, so a crashed run's leftovers never collide with the next one. */
export function nextId(): string {
  counter += 1;
  return `gantry-test-${process.pid}-${counter}`;
}

/**
 * One test's world: a temp dir holding the runtime's stateDir, a shared
 * busybox rootfs (read-only in every container), bundles and logs. `track`
 * records ids so teardown deletes every container, even after a failure.
 */
export interface Bench {
  dir: TempDir;
  stateDir: string;
  layout: CgroupLayout;
  runtime: ConmonRuntime;
  ids: string[];
  /** A new id, tracked for teardown. */
  id(): string;
  /** A bundle running `args` (sh -c ... usually); memory limit 64 MiB unless given. */
  bundle(id: string, args: string[], opts?: BundleOptions): Promise<string>;
  logPath(id: string): string;
}

export interface BundleOptions {
  memoryBytes?: number;
  /** Host dir bind-mounted read-write at /shared (to poke a running container from the test). */
  shared?: string;
}

const APPLETS = ['sh', 'cat', 'head', 'tail', 'echo', 'sleep', 'printf', 'tr', 'true', 'ps', 'seq', 'yes', 'test'];

export async function makeBench(runtimeBin: string, busybox: string): Promise<Bench> {
  const dir = await tempDir('gantry-drv-');
  const stateDir = path.join(dir.path, 'state');
  const layout = await detectCgroupLayout();
  const rootfs = path.join(dir.path, 'rootfs');
  await mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await mkdir(path.join(rootfs, 'shared'));
  await copyFile(busybox, path.join(rootfs, 'bin', 'busybox'));
  for (const a of APPLETS) await symlink('busybox', path.join(rootfs, 'bin', a));
  const template = await specTemplate(runtimeBin, dir.path);
  const ids: string[] = [];
  return {
    dir,
    stateDir,
    layout,
    runtime: new ConmonRuntime({ stateDir, cgroupLayout: layout }),
    ids,
    id() {
      const id = nextId();
      ids.push(id);
      return id;
    },
    async bundle(id, args, opts = {}) {
      const bundle = path.join(dir.path, 'bundles', id);
      await mkdir(bundle, { recursive: true });
      await writeFile(path.join(bundle, 'config.json'), JSON.stringify(patchSpec(template, rootfs, args, opts)));
      return bundle;
    },
    logPath: (id) => path.join(dir.path, 'logs', `${id}.log`),
  };
}

/** `runc spec` once; each bundle gets a patched copy. */
async function specTemplate(runtimeBin: string, dir: string): Promise<Record<string, unknown>> {
  const at = path.join(dir, 'spec-template');
  await mkdir(at);
  const res = await run(runtimeBin, ['spec', '--bundle', at]);
  if (res.code !== 0) throw new Error(`runc spec: ${res.stderr}`);
  return JSON.parse(await readFile(path.join(at, 'config.json'), 'utf8')) as Record<string, unknown>;
}

/** The parts of `runc spec`'s output we patch. */
interface Spec {
  root: { path: string; readonly: boolean };
  process: { terminal: boolean; args: string[]; env: string[]; rlimits: unknown[] };
  linux: { resources?: Record<string, unknown> };
  mounts: Array<Record<string, unknown>>;
}

function patchSpec(template: Record<string, unknown>, rootfs: string, args: string[], opts: BundleOptions): Spec {
  const spec = structuredClone(template) as unknown as Spec;
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  spec.process.args = args;
  spec.process.env = ['PATH=/bin'];
  // The host's root lacks CAP_SYS_RESOURCE: rlimits must stay within our own hard limits (nofile 20000 here).
  spec.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }];
  const memory = opts.memoryBytes ?? 64 * MiB;
  // swap = limit: no swap, so a hog is OOM-killed rather than swapped out.
  spec.linux.resources = { ...spec.linux.resources, memory: { limit: memory, swap: memory }, pids: { limit: 64 } };
  if (opts.shared !== undefined) {
    spec.mounts.push({ destination: '/shared', type: 'bind', source: opts.shared, options: ['rbind', 'rw'] });
  }
  return spec;
}

/** Delete every tracked container (force), then the temp dir; never throws, so one failure cannot hide another. */
export async function teardown(bench: Bench | undefined): Promise<void> {
  if (bench === undefined) return;
  for (const id of bench.ids) {
    try {
      await withTimeout(bench.runtime.delete(id, { force: true }), 20_000, `delete ${id}`);
    } catch (e) {
      process.stderr.write(`teardown: delete ${id} failed: ${e instanceof Error ? e.message : e}\n`);
      await run('runc', ['--root', path.join(bench.stateDir, 'runc'), 'delete', '--force', id]).catch(() => undefined);
    }
  }
  await bench.dir.cleanup();
}

/** /proc/<pid>/stat fields we check: ppid, process group, session. */
export async function procStat(pid: number): Promise<{ ppid: number; pgid: number; sid: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const after = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(after[1]), pgid: Number(after[2]), sid: Number(after[3]) };
  } catch {
    return undefined;
  }
}

/** Running (a zombie waiting for a lazy init to reap it counts as gone). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Pids of live conmon processes monitoring container `id` (from /proc: argv has `-c id`). */
export async function conmonsOf(id: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const c = argv.indexOf('-c');
    if (path.basename(argv[0] ?? '') === 'conmon' && c >= 0 && argv[c + 1] === id) found.push(Number(name));
  }
  return found;
}
