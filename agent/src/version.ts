import { readFileSync } from 'node:fs';

/**
 * The agent's version, read from agent/package.json. Both src/ and dist/ sit one
 * level below the package root, so the same relative URL works for tsx and tsc.
 */
export function agentVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
