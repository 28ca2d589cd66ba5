import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { invalid, notFound } from '../errors.js';
import type { CgroupLayout } from '../host/cgroups.js';
import { buildRuntimeSpec } from './bundle/index.js';
import { mountRootfs, rootfsPaths, unmountRootfs } from './rootfs.js';
import type { AppSpec, ContainerRuntime, ContainerState, ResolvedResources } from './types.js';

/** What the launcher needs from the image store. */
export interface ImageLookup {
  /** The stored image for a reference or digest: manifest digest, layer diff_ids bottom first, and its runtime config. */
  resolve(
    ref: string,
  ): Promise<{ ref: string; manifestDigest: string; diffIds: string[]; config: Record<string, unknown> }>;
  snapshotPath(diffId: string): string;
}

export interface LauncherDeps {
  /** DATA/containers */
  containersDir: string;
  /** DATA/volumes */
  volumesDir: string;
  /** DATA/apps: per-app eSDK socket dirs. */
  appsDir: string;
  runtime: ContainerRuntime;
  images: ImageLookup;
  cgroup: CgroupLayout;
  hostRlimits: Array<{ type: string; soft: number; hard: number }>;
  /** Parsed containers-common seccomp.json, or undefined when the host has none. */
  seccompProfile: unknown;
  deviceId: string;
  /** Per-container log cap, bytes. */
  logSizeMax: number;
}

/** Bytes of k8s-file log a container may write before conmon truncates it. */
export const DEFAULT_LOG_SIZE_MAX = 4 * 1024 * 1024;

/**
 * Turns an admitted app into a running container: mount its rootfs, write
 * its /etc files and OCI bundle, create it under conmon and start it. Used
 * for the first start and for every restart (the upper dir persists, like a
 * docker container's writable layer).
 */
export class Launcher {
  constructor(private readonly deps: LauncherDeps) {}

  containerDir(name: string): string {
    return path.join(this.deps.containersDir, name);
  }

  logPath(name: string): string {
    return path.join(this.containerDir(name), 'container.log');
  }

  async launch(app: AppSpec, resources: ResolvedResources, imageRef: string): Promise<ContainerState> {
    const dir = this.containerDir(app.name);
    const image = await this.deps.images.resolve(imageRef);
    const paths = rootfsPaths(dir);
    await mountRootfs(
      image.diffIds.map((d) => this.deps.images.snapshotPath(d)),
      paths,
    );
    const etc = await this.writeEtc(dir, app);
    const spec = buildRuntimeSpec({
      app,
      resources,
      imageConfig: image.config,
      rootfs: paths.merged,
      hostname: app.name,
      etc,
      volumes: await this.volumes(app),
      esdkDir: await this.esdkDir(app.app ?? app.name),
      devices: await this.devices(app),
      ...(await this.userDb(paths.merged)),
      hostRlimits: this.deps.hostRlimits,
      ...(this.deps.seccompProfile !== undefined ? { seccompProfile: this.deps.seccompProfile } : {}),
      cgroupsPath: `/gantry/${app.name}`,
      cgroupVersion: this.deps.cgroup.version === 'v2' ? 'v2' : this.deps.cgroup.version === 'hybrid' ? 'hybrid' : 'v1',
      agentEnv: {
        GANTRY_APP: app.app ?? app.name,
        GANTRY_DEVICE_ID: this.deps.deviceId,
        GANTRY_ESDK_SOCKET: '/run/gantry/esdk.sock',
      },
    });
    const bundle = path.join(dir, 'bundle');
    const cpu = deferCpuQuota(spec);
    const tmp = path.join(bundle, 'config.json.tmp');
    await writeFile(tmp, JSON.stringify(spec, null, 2));
    await rename(tmp, path.join(bundle, 'config.json'));
    // A container of this name left over from an earlier run of this app (exited, not deleted) is in the way.
    // list() only reads runc's root: cheaper than a delete's runc calls for the usual fresh start.
    if ((await this.deps.runtime.list()).includes(app.name)) await this.deps.runtime.delete(app.name, { force: true });
    const state = await this.deps.runtime.create(app.name, bundle, {
      logPath: this.logPath(app.name),
      logSizeMax: this.deps.logSizeMax,
    });
    // Before start, so the app never runs without its CPU limit.
    if (cpu) await this.deps.runtime.setCpuQuota(app.name, cpu.quota, cpu.period);
    await this.deps.runtime.start(app.name);
    return { ...state, status: 'running' };
  }

  /** Remove the container from the runtime and unmount its rootfs; with `purge`, its directory (upper dir, logs) too. */
  async teardown(name: string, purge: boolean): Promise<void> {
    await this.deps.runtime.delete(name, { force: true });
    await unmountRootfs(rootfsPaths(this.containerDir(name)));
    if (purge) await rm(this.containerDir(name), { recursive: true, force: true });
  }

  private async writeEtc(dir: string, app: AppSpec) {
    const etcDir = path.join(dir, 'etc');
    await mkdir(etcDir, { recursive: true });
    const files = {
      hostname: path.join(etcDir, 'hostname'),
      hosts: path.join(etcDir, 'hosts'),
      resolvConf: path.join(etcDir, 'resolv.conf'),
    };
    await writeFile(files.hostname, `${app.name}\n`);
    await writeFile(
      files.hosts,
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${app.name}\n`,
    );
    const resolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await writeFile(files.resolvConf, resolv);
    return files;
  }

  private async volumes(app: AppSpec) {
    const out: Array<{ source: string; target: string; readOnly: boolean }> = [];
    for (const v of app.volumes ?? []) {
      const source = path.join(this.deps.volumesDir, v.name);
      await mkdir(source, { recursive: true, mode: 0o755 });
      out.push({ source, target: v.target, readOnly: v.readOnly === true });
    }
    return out;
  }

  private async esdkDir(name: string): Promise<string> {
    const dir = path.join(this.deps.appsDir, name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  private async devices(app: AppSpec) {
    const out = [];
    for (const d of app.devices ?? []) {
      const st = await stat(d.path).catch((e: unknown) => {
        throw notFound(`device ${d.path} granted to ${app.name} does not exist on this host`, { cause: e });
      });
      if (!st.isCharacterDevice() && !st.isBlockDevice())
        throw invalid(`${d.path} granted to ${app.name} is not a device node`);
      out.push({
        hostPath: d.path,
        containerPath: d.containerPath ?? d.path,
        type: st.isCharacterDevice() ? ('c' as const) : ('b' as const),
        ...devNumbers(st.rdev),
        fileMode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        access: d.access ?? 'rw',
      });
    }
    return out;
  }

  /** The image's own user database, from the merged rootfs (so upper layers win, as in the container). */
  private async userDb(rootfs: string): Promise<{ passwd?: string; group?: string }> {
    const read = (f: string) => readFile(path.join(rootfs, 'etc', f), 'utf8').catch(() => undefined);
    const [passwd, group] = await Promise.all([read('passwd'), read('group')]);
    return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
  }
}

/**
 * Take the CPU quota out of the spec (to be set between create and start):
 * runc's init compiles the seccomp filter inside the container's cgroup, and
 * at an app's 0.1 CPU that alone took ~150 ms. Mutates `spec`.
 */
export function deferCpuQuota(spec: Record<string, unknown>): { quota: number; period: number } | undefined {
  const cpu = (spec.linux as { resources?: { cpu?: { quota?: number; period?: number } } } | undefined)?.resources?.cpu;
  if (cpu?.quota === undefined || cpu.quota <= 0) return undefined;
  const deferred = { quota: cpu.quota, period: cpu.period ?? 100_000 };
  delete cpu.quota;
  return deferred;
}

/** Pure: glibc's major()/minor() of a dev_t (64-bit encoding, so BigInt). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)),
    minor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn)),
  };
}
