import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_CAPABILITIES, translateSeccomp } from '../../../../agent/src/runtime/bundle/index.js';
import { IN_CI } from '../../../helpers/host-tools.js';
import { hostSeccompProfile, SECCOMP_JSON } from './fixtures.js';

const test = suite('bundle: seccomp translation (containers-common seccomp.json)');

interface Rule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: string }>;
}
interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: Rule[];
}

const profile = hostSeccompProfile();
const translate = (arch: string, caps: readonly string[] = DEFAULT_CAPABILITIES, p: unknown = profile) =>
  translateSeccomp(p, { arch, capabilities: caps }) as unknown as Seccomp;

/** The rules that mention a syscall. */
const rulesFor = (s: Seccomp, name: string) => s.syscalls.filter((r) => r.names.includes(name));
const allowed = (s: Seccomp, name: string) => rulesFor(s, name).some((r) => r.action === 'SCMP_ACT_ALLOW');

if (profile === undefined) {
  const hint = `${SECCOMP_JSON} is missing (Debian package containers-common; run scripts/setup-host)`;
  if (IN_CI) test('requires the containers-common seccomp profile', () => assert.unreachable(hint));
  else process.stderr.write(`\n!!! SKIPPING the seccomp tests against the real profile: ${hint} !!!\n\n`);
} else {
  test('default action: ERRNO with ENOSYS (so glibc falls back from syscalls it does not know)', () => {
    const s = translate('amd64');
    assert.is(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.is(s.defaultErrnoRet, 38);
  });

  test('architectures from archMap: the native one and its sub-architectures; none for 32-bit arm', () => {
    assert.equal(translate('amd64').architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.equal(translate('arm64').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.is(translate('arm').architectures, undefined);
  });

  test('the common allow list is there for every arch', () => {
    for (const arch of ['amd64', 'arm64', 'arm']) {
      const s = translate(arch);
      for (const name of ['read', 'write', 'openat', 'execve', 'clone', 'futex', 'epoll_wait', 'ioctl']) {
        assert.ok(allowed(s, name), `${arch}: ${name}`);
      }
      assert.not.ok(allowed(s, 'kexec_load'), `${arch}: kexec_load`);
      assert.not.ok(allowed(s, 'init_module'), `${arch}: init_module`);
    }
  });

  test('rules included by arch: arch_prctl on amd64 only, the arm_* calls on arm and arm64, s390 ones nowhere', () => {
    const amd64 = translate('amd64');
    const arm64 = translate('arm64');
    const arm = translate('arm');
    assert.ok(allowed(amd64, 'arch_prctl'));
    assert.ok(allowed(amd64, 'modify_ldt'));
    assert.not.ok(allowed(arm64, 'arch_prctl'));
    assert.not.ok(allowed(arm, 'modify_ldt'));
    for (const s of [arm64, arm]) assert.ok(allowed(s, 'arm_fadvise64_64') && allowed(s, 'cacheflush'));
    assert.not.ok(allowed(amd64, 'arm_fadvise64_64'));
    for (const s of [amd64, arm64, arm]) assert.is(rulesFor(s, 's390_pci_mmio_read').length, 0);
    // sync_file_range2 has one group for ppc64le and one for arm/arm64: only the latter applies.
    assert.is(rulesFor(arm64, 'sync_file_range2').length, 1);
    assert.is(rulesFor(amd64, 'sync_file_range2').length, 0);
  });

  test('rules by capability: with the default set, chroot is allowed and privileged calls get EPERM', () => {
    const s = translate('amd64');
    // CAP_SYS_CHROOT is in the default set: its allow rule is in, its EPERM rule is out.
    assert.equal(rulesFor(s, 'chroot'), [{ names: ['chroot'], action: 'SCMP_ACT_ALLOW' }]);
    // CAP_SYS_ADMIN is not: the allow rule is out, the EPERM rule (errnoRet 1) is in.
    const bpf = rulesFor(s, 'bpf');
    assert.is(bpf.length, 1);
    assert.is(bpf[0]?.action, 'SCMP_ACT_ERRNO');
    assert.is(bpf[0]?.errnoRet, 1);
    for (const name of ['perf_event_open', 'open_by_handle_at', 'clock_settime', 'acct', 'iopl', 'kcmp', 'vhangup']) {
      assert.ok(rulesFor(s, name).every((r) => r.action === 'SCMP_ACT_ERRNO') && rulesFor(s, name).length > 0, name);
    }
  });

  test('rules by capability: adding CAP_SYS_ADMIN flips bpf and friends to allowed', () => {
    const s = translate('amd64', [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    const bpf = rulesFor(s, 'bpf');
    assert.is(bpf.length, 1);
    assert.is(bpf[0]?.action, 'SCMP_ACT_ALLOW');
    assert.is(rulesFor(s, 'chroot').length, 1);
    const bare = translate('amd64', []);
    assert.equal(rulesFor(bare, 'chroot'), [{ names: ['chroot'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]);
  });

  test('socket without CAP_AUDIT_WRITE: audit netlink sockets get EINVAL, others allowed by argument', () => {
    const socket = rulesFor(translate('amd64'), 'socket');
    const einval = socket.find((r) => r.action === 'SCMP_ACT_ERRNO');
    assert.is(einval?.errnoRet, 22);
    assert.equal(einval?.args, [
      { index: 0, value: 16, valueTwo: 0, op: 'SCMP_CMP_EQ' },
      { index: 2, value: 9, valueTwo: 0, op: 'SCMP_CMP_EQ' },
    ]);
    assert.ok(socket.filter((r) => r.action === 'SCMP_ACT_ALLOW').every((r) => (r.args?.length ?? 0) > 0));
    const withAudit = rulesFor(translate('amd64', [...DEFAULT_CAPABILITIES, 'CAP_AUDIT_WRITE']), 'socket');
    assert.equal(withAudit, [{ names: ['socket'], action: 'SCMP_ACT_ALLOW' }]);
  });

  test('argument filters survive: personality is allowed only for the listed personas', () => {
    const personality = rulesFor(translate('arm64'), 'personality');
    assert.equal(
      personality.map((r) => r.args?.[0]?.value),
      [0, 8, 131072, 131080, 4294967295],
    );
  });

  test('only runtime-spec fields are written', () => {
    for (const rule of translate('amd64').syscalls) {
      for (const key of Object.keys(rule)) assert.ok(['names', 'action', 'errnoRet', 'args'].includes(key), key);
    }
  });
}

test('errno names are used when no number is given; a single `name` works', () => {
  const p = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrno: 'ENOSYS',
    syscalls: [
      { names: ['mount'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM' },
      { name: 'read', action: 'SCMP_ACT_ALLOW', args: null },
    ],
  };
  const s = translate('arm64', DEFAULT_CAPABILITIES, p);
  assert.is(s.defaultErrnoRet, 38);
  assert.equal(s.syscalls, [
    { names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
    { names: ['read'], action: 'SCMP_ACT_ALLOW' },
  ]);
  assert.is(s.architectures, undefined, 'no archMap: the runtime filters for the native arch');
});

test('a legacy `architectures` list is copied; with archMap too it is refused', () => {
  const p = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_ARM'], syscalls: [] };
  assert.equal(translate('arm', [], p).architectures, ['SCMP_ARCH_ARM']);
  const both = { ...p, archMap: [{ architecture: 'SCMP_ARCH_ARM', subArchitectures: [] }] };
  assert.throws(() => translate('arm', [], both), /either 'architectures' or 'archMap'/);
});

test('malformed profiles are refused with the field named', () => {
  assert.throws(() => translate('amd64', [], null), /not a JSON object/);
  assert.throws(() => translate('amd64', [], { syscalls: [] }), /defaultAction is missing/);
  assert.throws(() => translate('amd64', [], { defaultAction: 'SCMP_ACT_ALLOW' }), /syscalls is not a list/);
  const rule = (r: unknown) => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [r] });
  assert.throws(() => translate('amd64', [], rule({ names: ['x'] })), /syscalls\[0\].action is missing/);
  assert.throws(
    () => translate('amd64', [], rule({ names: [], action: 'SCMP_ACT_ALLOW' })),
    /syscalls\[0\] has no names/,
  );
  assert.throws(
    () => translate('amd64', [], rule({ names: ['x'], action: 'A', errno: 'EWHAT' })),
    /EWHAT is not a known errno/,
  );
  assert.throws(
    () => translate('amd64', [], rule({ names: ['x'], action: 'A', includes: { caps: 'CAP_X' } })),
    /includes.caps/,
  );
  assert.throws(
    () => translate('amd64', [], rule({ names: ['x'], action: 'A', args: [{ op: 'SCMP_CMP_EQ' }] })),
    /args\[0\]/,
  );
  assert.throws(() => translate('sparc', [], rule({ names: ['x'], action: 'A' })), /unsupported architecture sparc/);
});

test.run();
