import { invalid } from '../../errors.js';
import type { ContainerView } from '../../runtime/service.js';
import type { AppSpec, ContainerStats, RestartPolicy } from '../../runtime/types.js';
import type { Command } from '../command.js';
import { EXIT } from '../context.js';
import { formatDuration, renderTable } from '../output.js';
import { formatBytes } from '../progress.js';
import { parseMemoryMiB } from '../sizes.js';

function restartPolicy(text: string): RestartPolicy {
  const [policy, max] = text.split(':');
  if (policy === 'always' || policy === 'never') return { policy };
  if (policy === 'on-failure') {
    if (max !== undefined && !/^\d+$/.test(max))
      throw invalid(`--restart on-failure:N needs a whole number, not ${max}`);
    return max === undefined ? { policy } : { policy, maxRetries: Number(max) };
  }
  throw invalid(`--restart must be always, on-failure[:N] or never, not ${text}`);
}

/** Pure: flags of `gantry run` -> an app spec. */
export function specFromFlags(values: Record<string, unknown>, image: string, command: string[]): AppSpec {
  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => (values[k] as string[] | undefined) ?? [];
  const name = str('name');
  if (!name) throw invalid('--name is required');
  const spec: AppSpec = { name, image };
  if (command.length > 0) spec.command = command;
  const entrypoint = str('entrypoint');
  if (entrypoint !== undefined) spec.entrypoint = [entrypoint];
  const env = Object.fromEntries(
    list('env').map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw invalid(`--env ${kv}: expected NAME=VALUE`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
  if (Object.keys(env).length > 0) spec.env = env;
  const resources: NonNullable<AppSpec['resources']> = {};
  if (str('memory')) resources.memoryMiB = parseMemoryMiB(str('memory') as string, '--memory');
  if (str('cpus')) resources.cpus = Number(str('cpus'));
  if (str('pids')) resources.pids = Number(str('pids'));
  if (str('cpuset')) resources.cpuset = str('cpuset') as string;
  if (Object.keys(resources).length > 0) spec.resources = resources;
  if (list('device').length > 0) {
    // docker's form: HOST[:CONTAINER]
    spec.devices = list('device').map((d) => {
      const [path, containerPath] = d.split(':');
      return containerPath ? { path: path as string, containerPath } : { path: path as string };
    });
  }
  const network = str('network');
  if (network !== undefined) spec.network = network as 'none' | 'host';
  if (values['read-only']) spec.readOnlyRootfs = true;
  if (str('restart')) spec.restart = restartPolicy(str('restart') as string);
  if (str('health-cmd')) {
    spec.healthCheck = {
      command: ['sh', '-c', str('health-cmd') as string],
      ...(str('health-interval') ? { intervalSec: Number(str('health-interval')) } : {}),
      ...(str('health-retries') ? { retries: Number(str('health-retries')) } : {}),
      ...(str('health-timeout') ? { timeoutSec: Number(str('health-timeout')) } : {}),
    };
  }
  if (list('volume').length > 0) {
    spec.volumes = list('volume').map((v) => {
      const [vname, target, mode] = v.split(':');
      if (!vname || !target) throw invalid(`--volume ${v}: expected NAME:/path[:ro]`);
      return { name: vname, target, readOnly: mode === 'ro' };
    });
  }
  return spec;
}

export const runCommand: Command = {
  path: ['run'],
  summary: 'Run an app container from a pulled image, under cgroup limits',
  args: 'IMAGE [CMD...]',
  stopAtFirstPositional: true,
  options: {
    name: { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
    pids: { type: 'string' },
    cpuset: { type: 'string' },
    device: { type: 'string', multiple: true },
    env: { type: 'string', short: 'e', multiple: true },
    volume: { type: 'string', short: 'v', multiple: true },
    network: { type: 'string' },
    'read-only': { type: 'boolean' },
    restart: { type: 'string' },
    entrypoint: { type: 'string' },
    'health-cmd': { type: 'string' },
    'health-interval': { type: 'string' },
    'health-retries': { type: 'string' },
    'health-timeout': { type: 'string' },
  },
  optionHelp: [
    '--name NAME              app name (required)',
    "--memory 64Mi            memory limit (default: the profile's default)",
    '--cpus 0.5               CPU limit in cores;  --pids 64   process limit;  --cpuset 0-1',
    '--device HOST[:CTR]      pass a host device through, e.g. /dev/ttyS1 (repeatable)',
    '-e, --env NAME=VALUE     environment (repeatable);  -v, --volume NAME:/path[:ro]',
    '--network none|host      default none (own network namespace, loopback only)',
    '--read-only              read-only root filesystem',
    '--restart always|on-failure[:N]|never   default never',
    '--health-cmd CMD         probe run with sh -c inside; --health-interval S --health-retries N --health-timeout S',
  ],
  async run(ctx, values, args) {
    const [image, ...command] = args;
    if (!image) {
      ctx.err('gantry run: name an IMAGE');
      return EXIT.usage;
    }
    const view = await ctx.api().post<ContainerView>('/v1/apps', specFromFlags(values, image, command));
    ctx.out(ctx.json ? JSON.stringify(view, null, 2) : `${view.name} ${view.status} (pid ${view.pid})`);
    return EXIT.ok;
  },
};

export const psCommand: Command = {
  path: ['ps'],
  summary: 'List app containers (-a: also stopped ones)',
  options: { all: { type: 'boolean', short: 'a' } },
  async run(ctx, values) {
    const api = ctx.api();
    const apps = await api.get<ContainerView[]>(`/v1/apps${values.all ? '?all=1' : ''}`);
    const stats = new Map(
      (await api.get<Array<{ name: string; stats: ContainerStats }>>('/v1/stats')).map((s) => [s.name, s.stats]),
    );
    if (ctx.json) {
      ctx.out(
        JSON.stringify(
          apps.map((a) => ({ ...a, stats: stats.get(a.name) ?? null })),
          null,
          2,
        ),
      );
      return EXIT.ok;
    }
    const now = Date.now();
    const rows = apps.map((a) => {
      const s = stats.get(a.name);
      const up =
        a.status === 'running' && a.startedAt ? formatDuration(Math.floor((now - Date.parse(a.startedAt)) / 1000)) : '';
      const status = a.status === 'stopped' && a.lastExit ? `exited (${a.lastExit.code})` : a.status;
      return [
        a.name,
        a.revision !== undefined ? String(a.revision) : '-',
        a.image,
        status,
        a.health ?? '',
        String(a.restarts),
        up,
        s ? `${formatBytes(s.memoryBytes)} / ${formatBytes(s.memoryLimitBytes)}` : '',
      ];
    });
    ctx.out(renderTable(['NAME', 'REV', 'IMAGE', 'STATUS', 'HEALTH', 'RESTARTS', 'UP', 'MEMORY'], rows));
    return EXIT.ok;
  },
};

function lifecycle(verb: 'stop' | 'start' | 'restart' | 'pause' | 'resume', summary: string): Command {
  const timed = verb === 'stop' || verb === 'restart';
  return {
    path: [verb],
    summary,
    args: 'APP...',
    options: timed ? { time: { type: 'string', short: 't' } } : {},
    ...(timed ? { optionHelp: ['-t, --time S   seconds to wait after SIGTERM before SIGKILL (default 10)'] } : {}),
    async run(ctx, values, names) {
      if (names.length === 0) {
        ctx.err(`gantry ${verb}: name at least one app`);
        return EXIT.usage;
      }
      for (const name of names) {
        const t = typeof values.time === 'string' ? `?t=${encodeURIComponent(values.time)}` : '';
        // The agent answers after the grace period at worst: wait that long and some.
        const grace = typeof values.time === 'string' ? Number(values.time) : 10;
        const res = await ctx
          .api((grace + 30) * 1000)
          .post<unknown>(`/v1/apps/${encodeURIComponent(name)}/${verb}${t}`);
        ctx.out(ctx.json ? JSON.stringify(res) : name);
      }
      return EXIT.ok;
    },
  };
}

export const stopCommand = lifecycle('stop', 'Stop apps (SIGTERM, then SIGKILL after 10 s); they stay stopped');
export const startCommand = lifecycle('start', 'Start stopped apps');
export const restartCommand = lifecycle('restart', 'Stop and start apps');
export const pauseCommand = lifecycle('pause', 'Freeze apps (cgroup freezer)');
export const resumeCommand = lifecycle('resume', 'Thaw paused apps');

export const rmCommand: Command = {
  path: ['rm'],
  summary: 'Remove apps (their container, writable layer and logs; volumes stay)',
  args: 'APP...',
  options: { force: { type: 'boolean', short: 'f' } },
  async run(ctx, values, names) {
    if (names.length === 0) {
      ctx.err('gantry rm: name at least one app');
      return EXIT.usage;
    }
    for (const name of names) {
      await ctx.api().request('DELETE', `/v1/apps/${encodeURIComponent(name)}${values.force ? '?force=1' : ''}`);
      ctx.out(name);
    }
    return EXIT.ok;
  },
};

export const inspectCommand: Command = {
  path: ['inspect'],
  summary: 'Show an app: spec, resources, state, last exit, OOM kills, events',
  args: 'APP',
  options: {},
  async run(ctx, _values, [name]) {
    if (!name) {
      ctx.err('gantry inspect: name an app');
      return EXIT.usage;
    }
    ctx.out(JSON.stringify(await ctx.api().get(`/v1/apps/${encodeURIComponent(name)}`), null, 2));
    return EXIT.ok;
  },
};
