import { execFileSync } from 'node:child_process';
import { suite, type Test } from 'uvu';

/** Absolute path of a command on PATH, or undefined. */
export function which(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v "$1"`, 'sh', name], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * A uvu suite that needs host tools (runc, mosquitto, ...). When they are all
 * there, it is a plain suite. When one is missing:
 *  - under CI=true, the suite holds one failing test naming what is missing:
 *    CI must never pass by skipping the real peers;
 *  - otherwise every test of the suite is registered as skipped, and a loud
 *    line on stderr says what to install.
 * Hooks of a skipped suite never run, so they can start peers freely.
 */
export function hostSuite<T = Record<string, unknown>>(
  title: string,
  tools: string[],
  context?: T,
): { test: Test<T>; paths: Record<string, string> } {
  const real = suite<T>(title, context);
  const paths: Record<string, string> = {};
  const missing: string[] = [];
  for (const tool of tools) {
    const found = which(tool);
    if (found) paths[tool] = found;
    else missing.push(tool);
  }
  if (missing.length === 0) return { test: real, paths };

  const hint = `missing host tool${missing.length > 1 ? 's' : ''}: ${missing.join(', ')} (run scripts/setup-host as root)`;
  if (IN_CI) {
    real(`requires ${missing.join(', ')}`, () => {
      throw new Error(`${title}: ${hint}; CI=true, so this is a failure, not a skip`);
    });
  } else {
    process.stderr.write(`\n!!! SKIPPING suite "${title}": ${hint} !!!\n\n`);
  }
  const noop = () => {};
  const inertHook = Object.assign(noop, { each: noop });
  const skipped = Object.assign((name: string) => real.skip(name), {
    only: (name: string) => real.skip(name),
    skip: (name?: string) => real.skip(name),
    before: inertHook,
    after: inertHook,
    run: () => real.run(),
  });
  return { test: skipped as unknown as Test<T>, paths };
}
