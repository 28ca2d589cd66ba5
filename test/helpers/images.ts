import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildTestImages, type TestImageName } from '../../scripts/lib/build-test-images.js';
import type { Descriptor } from '../../scripts/lib/oci-layout.js';
import { pushToRegistry } from '../../scripts/lib/registry-push.js';
import type { Registry } from './registry.js';

/** Build test images into `layoutDir` and push each to REGISTRY/gantry-test/NAME:latest. */
export async function buildAndPush(
  registry: Registry,
  layoutDir: string,
  names: readonly TestImageName[],
): Promise<Record<string, Descriptor & { ref: string }>> {
  const built = await buildTestImages(layoutDir, names);
  const out: Record<string, Descriptor & { ref: string }> = {};
  for (const [name, desc] of Object.entries(built)) {
    await pushToRegistry(layoutDir, registry.url, `gantry-test/${name}`, 'latest', desc);
    out[name] = { ...desc, ref: `${registry.host}/gantry-test/${name}:latest` };
  }
  return out;
}

/** An agent config file that lets the agent talk plain HTTP to the loopback registry. */
export async function insecureRegistryConfig(
  dir: string,
  registry: Registry,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const file = path.join(dir, 'agent.json');
  await writeFile(file, JSON.stringify({ registries: { [registry.host]: { insecure: true } }, ...extra }, null, 2));
  return file;
}
