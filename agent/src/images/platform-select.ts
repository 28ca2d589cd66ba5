import { invalid, notFound } from '../errors.js';
import { formatPlatform, type OciPlatform } from '../host/platform.js';

/** One entry of an image index, as far as platform choice cares. */
export interface IndexEntry {
  digest: string;
  mediaType: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** Architecture aliases people and distros use, to the OCI (GOARCH) names. */
const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64', variant: 'v8' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
};

/** Pure: parse `os/arch[/variant]` (as `--platform` takes it), normalising aliases. */
export function parsePlatform(s: string): OciPlatform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw invalid(`platform ${JSON.stringify(s)} must look like os/arch or os/arch/variant (e.g. linux/arm/v7)`);
  }
  const [os, arch, variant] = parts as [string, string, string | undefined];
  if (os !== 'linux') throw invalid(`platform ${JSON.stringify(s)}: only linux images can run here`);
  const alias = ARCH_ALIASES[arch];
  const architecture = alias?.architecture ?? arch;
  const v = variant ?? alias?.variant;
  return normalise({ os: 'linux', architecture, ...(v ? { variant: v } : {}) });
}

/** Default variants (containerd's normalisation): arm64 is v8, arm without a variant is v7. */
function normalise(p: { os?: string; architecture?: string; variant?: string }): OciPlatform {
  const architecture = ARCH_ALIASES[p.architecture ?? '']?.architecture ?? p.architecture ?? '';
  let variant = p.variant;
  if (architecture === 'arm64' && (variant === undefined || variant === '')) variant = 'v8';
  if (architecture === 'arm' && (variant === undefined || variant === '')) variant = 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return { os: 'linux', architecture, ...(variant ? { variant } : {}) };
}

/**
 * Pure: the platforms a host of `want` can run, best first. An arm64 CPU runs
 * 32-bit arm code down to v5 (the usual aarch32 fallbacks); arm/v7 runs v6 and
 * v5; everything else runs only itself.
 */
export function compatiblePlatforms(want: OciPlatform): OciPlatform[] {
  const w = normalise(want);
  const armDown = (from: number) =>
    [8, 7, 6, 5]
      .filter((v) => v <= from)
      .map((v): OciPlatform => ({ os: 'linux', architecture: 'arm', variant: `v${v}` }));
  if (w.architecture === 'arm64') return [w, ...armDown(8)];
  if (w.architecture === 'arm') return armDown(Number((w.variant ?? 'v7').slice(1)));
  return [w];
}

/**
 * Pure: choose the index entry for `want`: the most preferred compatible
 * platform wins, and among equals the first in the index (image-spec "Image
 * Index": "the first matching entry SHOULD be used"). Entries with an OS other
 * than linux (and buildkit's unknown/unknown attestations) never match.
 */
export function selectPlatform(entries: IndexEntry[], want: OciPlatform, what: string): IndexEntry {
  const ranks = compatiblePlatforms(want).map(formatPlatform);
  let best: { entry: IndexEntry; rank: number } | undefined;
  for (const entry of entries) {
    if (entry.platform?.os !== 'linux') continue;
    const rank = ranks.indexOf(formatPlatform(normalise(entry.platform)));
    if (rank >= 0 && (best === undefined || rank < best.rank)) best = { entry, rank };
  }
  if (best) return best.entry;
  const offered = entries
    .filter((e) => e.platform?.os && e.platform.os !== 'unknown')
    .map((e) => `${e.platform?.os}/${e.platform?.architecture}${e.platform?.variant ? `/${e.platform.variant}` : ''}`);
  throw notFound(
    `${what} has no image for ${formatPlatform(normalise(want))}; it offers ${offered.length > 0 ? offered.join(', ') : 'no platforms'}`,
  );
}
