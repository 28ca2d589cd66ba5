import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ApplyResult } from '../../agent/src/deploy/service.js';
import type { DeploymentDocument } from '../../agent/src/deploy/types.js';
import type { ContainerView } from '../../agent/src/runtime/service.js';
import type { TestAgent } from './agent.js';

/** Write a deployment document into `dir` as rev-N.json and return its path. */
export async function writeDoc(dir: string, doc: DeploymentDocument): Promise<string> {
  const file = path.join(dir, `rev-${doc.revision}.json`);
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

/** `gantry deploy --json FILE`: the exit code, and the result (when the apply ran) or the error message. */
export async function deploy(
  agent: TestAgent,
  file: string,
): Promise<{ code: number | null; result?: ApplyResult; error: string }> {
  const res = await agent.gantry('--json', 'deploy', file);
  const out = res.stdout.trim();
  const parsed = (out.startsWith('{') ? JSON.parse(out) : {}) as Partial<ApplyResult> & { error?: { message: string } };
  return {
    code: res.code,
    error: parsed.error?.message ?? res.stderr,
    ...(parsed.outcome ? { result: parsed as ApplyResult } : {}),
  };
}

export async function psAll(agent: TestAgent): Promise<Map<string, ContainerView>> {
  const res = await agent.gantry('ps', '-a', '--json');
  if (res.code !== 0) throw new Error(`gantry ps failed: ${res.stderr}`);
  return new Map((JSON.parse(res.stdout) as ContainerView[]).map((v) => [v.app ?? v.name, v]));
}
