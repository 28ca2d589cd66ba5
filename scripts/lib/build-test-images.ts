import { type Descriptor, OciLayoutWriter } from './oci-layout.js';
import { sdkAppRecipe } from './sdk-app-image.js';
import { busyboxRecipe, layeredRecipe, nodeAppRecipe, writeMultiarch } from './test-images.js';

export const TEST_IMAGES = ['busybox', 'layered', 'multiarch', 'node-app', 'sdk-app'] as const;
export type TestImageName = (typeof TEST_IMAGES)[number];

/** Build the named test images into one OCI layout, each tagged with its own name. */
export async function buildTestImages(
  layoutDir: string,
  names: readonly TestImageName[],
): Promise<Record<string, Descriptor>> {
  const layout = new OciLayoutWriter(layoutDir);
  await layout.init();
  const out: Record<string, Descriptor> = {};
  for (const name of names) {
    let desc: Descriptor;
    switch (name) {
      case 'busybox':
        desc = await layout.writeImage(busyboxRecipe());
        break;
      case 'layered':
        desc = await layout.writeImage(layeredRecipe());
        break;
      case 'multiarch':
        desc = await writeMultiarch(layout);
        break;
      case 'node-app':
        desc = await layout.writeImage(nodeAppRecipe());
        break;
      case 'sdk-app':
        desc = await layout.writeImage(sdkAppRecipe());
        break;
    }
    await layout.tag(name, desc);
    out[name] = desc;
  }
  return out;
}
