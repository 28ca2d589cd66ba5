import type { LogLevel } from '../../config/agent-config.js';
import type { Command } from '../command.js';
import { EXIT } from '../context.js';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

export const agentCommand: Command = {
  path: ['agent'],
  summary: 'Run the agent daemon in the foreground (logs JSON lines to stderr)',
  options: {
    profile: { type: 'string' },
    config: { type: 'string' },
    'log-level': { type: 'string' },
    'sysfs-root': { type: 'string' },
  },
  optionHelp: [
    "--profile NAME|FILE   firmware profile (default: the config file's, else generic-x86_64)",
    '--config FILE         agent config (JSON)',
    '--log-level LEVEL     fatal|error|warn|info|debug|trace (default info)',
    "--sysfs-root DIR      sysfs for GPIO and sensors (default: the config's, else /sys); a fake tree for simulation",
  ],
  async run(ctx, values) {
    const level = values['log-level'] as string | undefined;
    if (level !== undefined && !LEVELS.has(level)) {
      ctx.err(`gantry agent: --log-level must be one of ${[...LEVELS].join(', ')}, not "${level}"`);
      return EXIT.usage;
    }
    // Loaded here, not at the top: every other command starts without the daemon's modules.
    const { startAgent } = await import('../../daemon/agent.js');
    const { createLogger } = await import('../../daemon/log.js');
    const agent = await startAgent({
      dataDir: ctx.dataDir,
      ...(typeof values.profile === 'string' ? { profile: values.profile } : {}),
      ...(typeof values.config === 'string' ? { configFile: values.config } : {}),
      ...(typeof values['sysfs-root'] === 'string' ? { sysfsRoot: values['sysfs-root'] } : {}),
      ...(level !== undefined ? { logger: createLogger(level as LogLevel) } : {}),
    });
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        process.stderr.write(`gantry agent: ${signal}, shutting down\n`);
        resolve();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    await agent.stop();
    return EXIT.ok;
  },
};
