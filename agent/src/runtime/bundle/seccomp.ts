/**
 * containers-common seccomp.json -> runtime-spec linux.seccomp
 * (config-linux.md "Seccomp"), the way containers/common's
 * pkg/seccomp setupSeccomp (and Moby's profiles/seccomp) do it:
 *  - architectures: the archMap entry whose `architecture` is the native one,
 *    followed by its subArchitectures; none when no entry matches (32-bit arm:
 *    then the runtime filters for the native arch only, as with podman);
 *  - a syscall group is dropped when `excludes.arches` holds the arch, when
 *    `excludes.caps` holds any capability of the bounding set, when
 *    `includes.arches` is given without the arch, or when `includes.caps`
 *    names a capability outside the bounding set;
 *  - errnoRet (or the newer `errno` name) is carried over per rule, and
 *    defaultErrnoRet (or `defaultErrno`) for the default action.
 * `includes/excludes.minKernel` is not evaluated (containers/common does not
 * either): unknown syscalls are skipped by runc and libseccomp.
 */
import { invalid } from '../../errors.js';

/** GOARCH -> (libseccomp's name for it, as used in includes/excludes.arches; its SCMP_ARCH_ constant). */
const ARCHES: Record<string, { name: string; scmp: string }> = {
  amd64: { name: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  '386': { name: 'x86', scmp: 'SCMP_ARCH_X86' },
  arm64: { name: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  arm: { name: 'arm', scmp: 'SCMP_ARCH_ARM' },
  ppc64le: { name: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  s390x: { name: 's390x', scmp: 'SCMP_ARCH_S390X' },
  riscv64: { name: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
  mips64: { name: 'mips64', scmp: 'SCMP_ARCH_MIPS64' },
  mips64le: { name: 'mipsel64', scmp: 'SCMP_ARCH_MIPSEL64' },
};

/** errno names that seccomp.json files use, with their numbers on the generic Linux ABI (amd64, arm, arm64). */
const ERRNO: Record<string, number> = { EPERM: 1, ENOENT: 2, EACCES: 13, EINVAL: 22, ENOSYS: 38 };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw invalid(`seccomp profile: ${what} is not a list of strings`);
  return v as string[];
}

function errnoOf(ret: unknown, name: unknown, what: string): number | undefined {
  if (ret !== undefined && ret !== null) {
    if (!Number.isSafeInteger(ret) || (ret as number) < 0) throw invalid(`seccomp profile: ${what}Ret is not an errno`);
    return ret as number;
  }
  if (name === undefined || name === null || name === '') return undefined;
  const n = typeof name === 'string' ? ERRNO[name] : undefined;
  if (n === undefined) throw invalid(`seccomp profile: ${what} ${String(name)} is not a known errno name`);
  return n;
}

function architectures(profile: Json, scmp: string): string[] | undefined {
  const legacy = strings(profile.architectures, 'architectures');
  const archMap = profile.archMap ?? [];
  if (!Array.isArray(archMap)) throw invalid('seccomp profile: archMap is not a list');
  if (legacy.length > 0 && archMap.length > 0)
    throw invalid("seccomp profile: give either 'architectures' or 'archMap', not both");
  if (legacy.length > 0) return legacy;
  for (const [i, entry] of archMap.entries()) {
    if (!isObject(entry)) throw invalid(`seccomp profile: archMap[${i}] is not an object`);
    if (entry.architecture === scmp)
      return [scmp, ...strings(entry.subArchitectures, `archMap[${i}].subArchitectures`)];
  }
  return undefined;
}

/** Does this syscall group apply to the arch and capability set? (containers/common setupSeccomp's filter.) */
function applies(call: Json, i: number, arch: string, caps: ReadonlySet<string>): boolean {
  const inc = isObject(call.includes) ? call.includes : {};
  const exc = isObject(call.excludes) ? call.excludes : {};
  if (strings(exc.arches, `syscalls[${i}].excludes.arches`).includes(arch)) return false;
  if (strings(exc.caps, `syscalls[${i}].excludes.caps`).some((c) => caps.has(c))) return false;
  const incArches = strings(inc.arches, `syscalls[${i}].includes.arches`);
  if (incArches.length > 0 && !incArches.includes(arch)) return false;
  if (strings(inc.caps, `syscalls[${i}].includes.caps`).some((c) => !caps.has(c))) return false;
  return true;
}

function convertArgs(args: unknown, i: number): Json[] | undefined {
  if (args === undefined || args === null) return undefined;
  if (!Array.isArray(args)) throw invalid(`seccomp profile: syscalls[${i}].args is not a list`);
  if (args.length === 0) return undefined;
  return args.map((a, j) => {
    if (!isObject(a) || !Number.isSafeInteger(a.index) || typeof a.op !== 'string' || typeof a.value !== 'number')
      throw invalid(`seccomp profile: syscalls[${i}].args[${j}] needs index, value and op`);
    return { index: a.index, value: a.value, valueTwo: typeof a.valueTwo === 'number' ? a.valueTwo : 0, op: a.op };
  });
}

function convertCall(call: Json, i: number): Json {
  const names = call.name !== undefined && call.name !== '' ? [call.name] : strings(call.names, `syscalls[${i}].names`);
  if (call.name !== undefined && call.name !== '' && Array.isArray(call.names) && call.names.length > 0)
    throw invalid(`seccomp profile: syscalls[${i}] gives both name and names`);
  if (names.length === 0 || typeof names[0] !== 'string') throw invalid(`seccomp profile: syscalls[${i}] has no names`);
  if (typeof call.action !== 'string') throw invalid(`seccomp profile: syscalls[${i}].action is missing`);
  const out: Json = { names, action: call.action };
  const errnoRet = errnoOf(call.errnoRet, call.errno, `syscalls[${i}].errno`);
  if (errnoRet !== undefined) out.errnoRet = errnoRet;
  const args = convertArgs(call.args, i);
  if (args) out.args = args;
  return out;
}

/**
 * Pure: translate a containers-common seccomp.json (already parsed) into the
 * runtime-spec linux.seccomp object for `arch` (GOARCH: amd64, arm64, arm...)
 * and the container's bounding capability set.
 */
export function translateSeccomp(
  profile: unknown,
  opts: { arch: string; capabilities: readonly string[] },
): Record<string, unknown> {
  if (!isObject(profile)) throw invalid('seccomp profile is not a JSON object');
  const arch = ARCHES[opts.arch];
  if (!arch) throw invalid(`seccomp: unsupported architecture ${opts.arch}`);
  if (typeof profile.defaultAction !== 'string' || profile.defaultAction === '')
    throw invalid('seccomp profile: defaultAction is missing');
  if (!Array.isArray(profile.syscalls)) throw invalid('seccomp profile: syscalls is not a list');

  const out: Record<string, unknown> = { defaultAction: profile.defaultAction };
  const defaultErrnoRet = errnoOf(profile.defaultErrnoRet, profile.defaultErrno, 'defaultErrno');
  if (defaultErrnoRet !== undefined) out.defaultErrnoRet = defaultErrnoRet;
  const arches = architectures(profile, arch.scmp);
  if (arches) out.architectures = arches;
  const flags = strings(profile.flags, 'flags');
  if (flags.length > 0) out.flags = flags;

  const caps = new Set(opts.capabilities);
  const syscalls: Json[] = [];
  for (const [i, call] of profile.syscalls.entries()) {
    if (!isObject(call)) throw invalid(`seccomp profile: syscalls[${i}] is not an object`);
    if (applies(call, i, arch.name, caps)) syscalls.push(convertCall(call, i));
  }
  out.syscalls = syscalls;
  return out;
}
