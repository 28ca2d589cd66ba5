import type { AgentInfo } from '../../api/routes.js';
import type { Command } from '../command.js';
import { EXIT } from '../context.js';
import { formatDuration, renderKeyValues } from '../output.js';

export const infoCommand: Command = {
  path: ['info'],
  summary: 'Show what the running agent is: version, device id, profile, platform, cgroups',
  options: {},
  async run(ctx) {
    const info = await ctx.api().get<AgentInfo>('/v1/info');
    if (ctx.json) {
      ctx.out(JSON.stringify(info, null, 2));
      return EXIT.ok;
    }
    const cgroup = info.cgroup.unifiedMount
      ? `${info.cgroup.version} (unified at ${info.cgroup.unifiedMount})`
      : info.cgroup.version;
    ctx.out(
      renderKeyValues([
        ['Version', info.version],
        ['Device', info.deviceId],
        ['Profile', `${info.profile.model} (${info.profile.vendor})`],
        ['Platform', info.platform],
        ['Cgroups', cgroup],
        ['Data dir', info.dataDir],
        ['PID', String(info.pid)],
        ['Node.js', info.node],
        ['Up', `${formatDuration(info.uptimeSeconds)} (since ${info.startedAt})`],
      ]),
    );
    return EXIT.ok;
  },
};
