/**
 * The host's platform in OCI terms (image-spec "platform" object: architecture
 * values follow GOARCH), derived from Node's own view of the CPU.
 */
export interface OciPlatform {
  os: 'linux';
  architecture: string;
  variant?: string;
}

const NODE_TO_GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** Pure: `arch` is `process.arch`; `armVersion` is Node's `arm_version` build variable ("7", "6"). */
export function ociPlatformOf(arch: string, armVersion?: string): OciPlatform {
  const architecture = NODE_TO_GOARCH[arch] ?? arch;
  if (architecture === 'arm') return { os: 'linux', architecture, variant: `v${armVersion ?? '7'}` };
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  return { os: 'linux', architecture };
}

export function hostPlatform(): OciPlatform {
  const vars = process.config.variables as Record<string, unknown>;
  const armVersion = typeof vars.arm_version === 'string' ? vars.arm_version : undefined;
  return ociPlatformOf(process.arch, armVersion);
}

export function formatPlatform(p: { architecture: string; variant?: string | undefined }): string {
  return p.variant ? `linux/${p.architecture}/${p.variant}` : `linux/${p.architecture}`;
}
