import type { ContainerStats, LogLine } from '../../runtime/types.js';
import type { Command } from '../command.js';
import { EXIT } from '../context.js';
import { renderTable } from '../output.js';
import { formatBytes } from '../progress.js';

type Sample = { name: string; at: number; stats: ContainerStats };

/** Pure: CPU use between two samples, in percent of one core. */
export function cpuPercent(a: Sample, b: Sample): number {
  const dt = b.at - a.at;
  return dt > 0 ? ((b.stats.cpuUsageNs - a.stats.cpuUsageNs) / (dt * 1e6)) * 100 : 0;
}

function table(prev: Sample[], cur: Sample[]): string {
  const before = new Map(prev.map((s) => [s.name, s]));
  const rows = cur.map((s) => {
    const p = before.get(s.name);
    const mem =
      s.stats.memoryLimitBytes > 0 ? ((s.stats.memoryBytes / s.stats.memoryLimitBytes) * 100).toFixed(1) : '-';
    return [
      s.name,
      p ? `${cpuPercent(p, s).toFixed(1)}%` : '-',
      `${formatBytes(s.stats.memoryBytes)} / ${formatBytes(s.stats.memoryLimitBytes)}`,
      `${mem}%`,
      String(s.stats.pids),
    ];
  });
  return renderTable(['NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'], rows);
}

export const statsCommand: Command = {
  path: ['stats'],
  summary: 'Live CPU, memory and pids of running apps (--no-stream: one sample)',
  options: { 'no-stream': { type: 'boolean' } },
  async run(ctx, values) {
    const api = ctx.api();
    const sample = () => api.get<Sample[]>('/v1/stats');
    let prev = await sample();
    await new Promise((r) => setTimeout(r, 500));
    for (;;) {
      const cur = await sample();
      if (ctx.json) {
        const before = new Map(prev.map((s) => [s.name, s]));
        ctx.out(
          JSON.stringify(
            cur.map((s) => ({
              ...s,
              cpuPercent: before.has(s.name) ? cpuPercent(before.get(s.name) as Sample, s) : null,
            })),
          ),
        );
      } else {
        if (!values['no-stream'] && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
        ctx.out(table(prev, cur));
      }
      if (values['no-stream']) return EXIT.ok;
      prev = cur;
      await new Promise((r) => setTimeout(r, 2000));
    }
  },
};

export const logsCommand: Command = {
  path: ['logs'],
  summary: "Print an app's output (-f to follow); its stderr goes to stderr",
  args: 'APP',
  options: {
    follow: { type: 'boolean', short: 'f' },
    tail: { type: 'string', short: 'n' },
    since: { type: 'string' },
    timestamps: { type: 'boolean', short: 't' },
  },
  optionHelp: [
    '-f, --follow   keep printing new lines',
    '-n, --tail N   only the last N lines',
    '--since TIME   RFC 3339 time',
    '-t, --timestamps',
  ],
  async run(ctx, values, [name]) {
    if (!name) {
      ctx.err('gantry logs: name an app');
      return EXIT.usage;
    }
    const q = new URLSearchParams();
    if (values.follow) q.set('follow', '1');
    if (typeof values.tail === 'string') q.set('tail', values.tail);
    if (typeof values.since === 'string') q.set('since', values.since);
    for await (const line of ctx.api().stream<LogLine>('GET', `/v1/apps/${encodeURIComponent(name)}/logs?${q}`)) {
      if (ctx.json) {
        ctx.out(JSON.stringify(line));
        continue;
      }
      const text = `${values.timestamps ? `${line.time} ` : ''}${line.text}${line.complete ? '\n' : ''}`;
      (line.stream === 'stderr' ? process.stderr : process.stdout).write(text);
    }
    return EXIT.ok;
  },
};
