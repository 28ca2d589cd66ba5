import cron from 'node-cron';
import { invalid } from '../errors.js';

/**
 * Runs `fn` on a cron schedule with one timer armed for the next occurrence.
 *
 * node-cron's own scheduler wakes up every second (about 7 ms of CPU per
 * second here, measured): too much for an agent that must sit near 0% CPU
 * when idle. Its parser is used only to compute the next run time.
 */
const MAX_TIMEOUT_MS = 2 ** 31 - 1; // setTimeout's limit (~24.8 days); longer waits re-arm

export interface CronTimer {
  stop(): void;
}

export function isCronExpression(expression: string): boolean {
  return cron.validate(expression);
}

export function cronTimer(expression: string, fn: () => void): CronTimer {
  if (!cron.validate(expression)) throw invalid(`${JSON.stringify(expression)} is not a cron expression`);
  const calculator = cron.createTask(expression, () => {}); // never started: no ticking
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const arm = (): void => {
    if (stopped) return;
    const next = calculator.getNextRuns(1)[0];
    if (next === undefined) return;
    wait(next.getTime());
  };
  const wait = (target: number): void => {
    const delay = Math.min(Math.max(0, target - Date.now()), MAX_TIMEOUT_MS);
    timer = setTimeout(() => {
      if (stopped) return;
      // Early (clock adjusted) or a long wait cut to the timer limit: wait the rest.
      if (Date.now() < target) return wait(target);
      try {
        fn();
      } finally {
        arm();
      }
    }, delay);
    timer.unref();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      void calculator.destroy();
    },
  };
}
