import { type Logger, pino } from 'pino';
import type { LogLevel } from '../config/agent-config.js';

/**
 * Structured JSON lines on stderr (stdout stays free for command output).
 * Synchronous writes: a line logged just before a crash must not be lost in a buffer.
 */
export function createLogger(level: LogLevel = 'info', base: Record<string, unknown> = {}): Logger {
  return pino(
    { level, base: { ...base }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 2, sync: true }),
  );
}

export type { Logger };
