import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import type { Descriptor, ImageRecipe, OciLayoutWriter, Platform } from './oci-layout.js';
import { type LayerEntry, parentDirs } from './tar-layer.js';

/**
 * The project's test images, built from files on this host so that no image
 * has to be downloaded. Each builder writes into a layout and tags the result.
 */

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

function which(cmd: string): string {
  return execFileSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { encoding: 'utf8' }).trim();
}

/** Minimal /etc so that user lookups and hostnames behave inside containers. */
function etcEntries(): LayerEntry[] {
  return [
    { type: 'dir', path: 'etc' },
    {
      type: 'file',
      path: 'etc/passwd',
      content:
        'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'home' },
    { type: 'dir', path: 'home/app', uid: 1000, gid: 1000 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ];
}

/** The static busybox binary and one symlink per applet, at the paths busybox itself lists. */
export function busyboxLayer(): LayerEntry[] {
  const bin = realpathSync(which('busybox'));
  const applets = execFileSync(bin, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .filter((p) => p !== '' && p !== 'bin/busybox');
  const files: LayerEntry[] = [
    { type: 'file', path: 'bin/busybox', content: readFileSync(bin), mode: 0o755 },
    ...applets.map((p): LayerEntry => ({ type: 'symlink', path: p, target: '/bin/busybox' })),
  ];
  const etc = etcEntries();
  const have = new Set(etc.filter((e) => e.type === 'dir').map((e) => e.path));
  return [
    ...parentDirs(
      files.map((f) => f.path),
      have,
    ),
    ...files,
    ...etc,
  ];
}

export function busyboxRecipe(platform: Platform = AMD64): ImageRecipe {
  return {
    platform,
    layers: [busyboxLayer()],
    config: {
      Cmd: ['sh'],
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      WorkingDir: '/',
    },
  };
}

/**
 * Three layers over busybox exercising whiteouts (image-spec "Whiteouts"):
 * layer 3 deletes /data/remove-me.txt (`.wh.` file) and makes /data/dir
 * opaque (`.wh..wh..opq`), so only new.txt survives there.
 * Expected rootfs: /data/keep.txt, /data/dir/new.txt, /etc/motd = "v2".
 */
export function layeredRecipe(): ImageRecipe {
  const base = busyboxRecipe();
  const layer2: LayerEntry[] = [
    { type: 'dir', path: 'data' },
    { type: 'file', path: 'data/keep.txt', content: 'keep\n' },
    { type: 'file', path: 'data/remove-me.txt', content: 'remove me\n' },
    { type: 'dir', path: 'data/dir' },
    { type: 'file', path: 'data/dir/old.txt', content: 'old\n' },
    { type: 'file', path: 'etc/motd', content: 'v1\n' },
    { type: 'hardlink', path: 'data/keep-link.txt', target: 'data/keep.txt' },
  ];
  const layer3: LayerEntry[] = [
    { type: 'file', path: 'data/.wh.remove-me.txt', content: '' },
    { type: 'dir', path: 'data/dir' },
    { type: 'file', path: 'data/dir/.wh..wh..opq', content: '' },
    { type: 'file', path: 'data/dir/new.txt', content: 'new\n' },
    { type: 'file', path: 'etc/motd', content: 'v2\n' },
  ];
  return { ...base, layers: [...base.layers, layer2, layer3] };
}

/** One tiny image per platform; /platform holds its own name, so a test can tell which one it got. */
export const MULTIARCH_PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
];

export async function writeMultiarch(layout: OciLayoutWriter): Promise<Descriptor> {
  const manifests: Descriptor[] = [];
  for (const platform of MULTIARCH_PLATFORMS) {
    const name = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
    manifests.push(
      await layout.writeImage({
        platform,
        layers: [[{ type: 'file', path: 'platform', content: `${name}\n` }]],
        config: { Cmd: ['/bin/true'] },
      }),
    );
  }
  return layout.writeIndexBlob(manifests);
}

/** Shared libraries a dynamic executable needs, as ldd reports them (the vDSO has no file). */
export function sharedLibraries(executable: string): string[] {
  const out = execFileSync('ldd', [executable], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** Source of the demo app that the node image runs (/app/index.js). */
const NODE_APP_SOURCE = `// Gantry demo app: says hello, then a heartbeat every 5 s until stopped.
const name = process.env.GANTRY_APP ?? 'node-app';
console.log(\`\${name}: hello from node \${process.version} in a Gantry container\`);
let beats = 0;
const timer = setInterval(() => console.log(\`\${name}: heartbeat \${++beats}\`), 5000);
process.on('SIGTERM', () => { clearInterval(timer); console.log(\`\${name}: stopping\`); process.exit(0); });
`;

/**
 * The host's node binary, the libraries ldd names (stored at the same paths),
 * busybox for a shell, and /app. Big (~100 MB): gzip level 1.
 */
export function nodeAppRecipe(appSource = NODE_APP_SOURCE): ImageRecipe {
  const node = realpathSync(process.execPath);
  const libs = sharedLibraries(node);
  const runtime: LayerEntry[] = [
    { type: 'file', path: 'usr/local/bin/node', content: readFileSync(node), mode: 0o755 },
    ...libs.map(
      (lib): LayerEntry => ({
        type: 'file',
        path: lib.slice(1),
        content: readFileSync(realpathSync(lib)),
        mode: 0o755,
      }),
    ),
  ];
  const base = busyboxLayer();
  const have = new Set(base.filter((e) => e.type === 'dir').map((e) => e.path));
  const runtimeLayer = [
    ...parentDirs(
      runtime.map((e) => e.path),
      have,
    ),
    ...runtime,
  ];
  const appLayer: LayerEntry[] = [
    { type: 'dir', path: 'app' },
    { type: 'file', path: 'app/index.js', content: appSource },
  ];
  return {
    platform: AMD64,
    layers: [base, runtimeLayer, appLayer],
    config: {
      Entrypoint: ['/usr/local/bin/node'],
      Cmd: ['/app/index.js'],
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
      WorkingDir: '/app',
      User: '1000:1000',
    },
    gzipLevel: 1,
  };
}
