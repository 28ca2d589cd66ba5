import path from 'node:path';
import type { ContainerView } from '../../agent/src/runtime/service.js';
import type { ContainerStats } from '../../agent/src/runtime/types.js';
import { buildTestImages } from '../../scripts/lib/build-test-images.js';
import { startAgent, type TestAgent } from './agent.js';
import { hostSuite } from './host-tools.js';
import { waitFor } from './timeout.js';
import { type TempDir, tempDir } from './tmp.js';

/** An agent with the busybox test image pulled from an OCI layout, ready to run apps. */
export async function agentWithBusybox(): Promise<{ agent: TestAgent; dir: TempDir; image: string }> {
  const dir = await tempDir('gantry-apps-');
  const layout = path.join(dir.path, 'layout');
  await buildTestImages(layout, ['busybox']);
  const agent = await startAgent({ dataDir: path.join(dir.path, 'data') });
  const image = `oci:${layout}:busybox`;
  const pulled = await agent.gantry('pull', image);
  if (pulled.code !== 0) throw new Error(`pull failed: ${pulled.stderr}`);
  return { agent, dir, image };
}

export async function gantryOk(agent: TestAgent, ...args: string[]): Promise<string> {
  const res = await agent.gantry(...args);
  if (res.code !== 0) throw new Error(`gantry ${args.join(' ')} exited ${res.code}: ${res.stderr}${res.stdout}`);
  return res.stdout;
}

export async function inspect(
  agent: TestAgent,
  name: string,
): Promise<ContainerView & { events: Array<{ type: string; detail?: Record<string, unknown> }> }> {
  return JSON.parse(await gantryOk(agent, 'inspect', name));
}

export function waitForApp(
  agent: TestAgent,
  name: string,
  pred: (v: Awaited<ReturnType<typeof inspect>>) => boolean,
  what: string,
  ms = 20_000,
) {
  return waitFor(
    async () => {
      const v = await inspect(agent, name);
      return pred(v) ? v : undefined;
    },
    { ms, what: `${name}: ${what}`, intervalMs: 100 },
  );
}

export async function statsOf(
  agent: TestAgent,
  name: string,
): Promise<{ at: number; stats: ContainerStats } | undefined> {
  const all = JSON.parse(await gantryOk(agent, 'stats', '--no-stream', '--json')) as Array<{
    name: string;
    at: number;
    stats: ContainerStats;
  }>;
  return all.find((s) => s.name === name);
}

/** Remove every app of the agent (force), ignoring errors: test teardown. */
export async function removeAll(agent: TestAgent): Promise<void> {
  const apps = JSON.parse((await agent.gantry('ps', '-a', '--json')).stdout || '[]') as ContainerView[];
  for (const a of apps) await agent.gantry('rm', '-f', a.name);
}

export interface AppsContext {
  agent: TestAgent;
  dir: TempDir;
  image: string;
}

/**
 * A suite of runtime tests on one agent with busybox pulled. Stopped apps
 * still hold their share of the profile's budget, so every test's apps are
 * removed after it.
 */
export function appsSuite(title: string, tools: string[]) {
  const { test } = hostSuite<AppsContext>(title, tools);
  test.before(async (ctx) => {
    Object.assign(ctx, await agentWithBusybox());
  });
  test.after.each(async (ctx) => {
    await removeAll(ctx.agent);
  });
  test.after(async (ctx) => {
    if (ctx.agent) await removeAll(ctx.agent);
    await ctx.agent?.dispose();
    await ctx.dir?.cleanup();
  });
  return test;
}
