import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildRuntimeSpec, DEFAULT_CAPABILITIES } from '../../../../agent/src/runtime/bundle/index.js';
import { bundleInput, view } from './fixtures.js';

const test = suite('bundle: process (args, env, user, cwd, rlimits, capabilities)');

const spec = (...a: Parameters<typeof bundleInput>) => view(buildRuntimeSpec(bundleInput(...a)));
const args = (app: Parameters<typeof bundleInput>[0], imageConfig: Record<string, unknown>) =>
  spec(app, { imageConfig }).process.args;

test('args: image Entrypoint + Cmd; the app command replaces Cmd only', () => {
  const image = { Entrypoint: ['/bin/meter'], Cmd: ['--port', '/dev/ttyS1'] };
  assert.equal(args({}, image), ['/bin/meter', '--port', '/dev/ttyS1']);
  assert.equal(args({ command: ['--help'] }, image), ['/bin/meter', '--help']);
  assert.equal(args({ command: [] }, image), ['/bin/meter']);
});

test('args: an app entrypoint drops the image Cmd (docker semantics) unless a command is given', () => {
  const image = { Entrypoint: ['/bin/meter'], Cmd: ['--port', '/dev/ttyS1'] };
  assert.equal(args({ entrypoint: ['/bin/sh', '-c'] }, image), ['/bin/sh', '-c']);
  assert.equal(args({ entrypoint: ['/bin/sh', '-c'], command: ['echo hi'] }, image), ['/bin/sh', '-c', 'echo hi']);
  assert.equal(args({ entrypoint: [], command: ['/bin/true'] }, image), ['/bin/true']);
});

test('args: Cmd alone, null Entrypoint', () => {
  assert.equal(args({}, { Entrypoint: null, Cmd: ['/bin/sh'] }), ['/bin/sh']);
});

test('args: nothing to run is refused; so is a malformed image field', () => {
  assert.throws(() => args({}, {}), /app meter: nothing to run/);
  assert.throws(() => args({ entrypoint: [] }, { Cmd: ['/bin/sh'] }), /nothing to run/);
  assert.throws(() => args({}, { Cmd: '/bin/sh' }), /image config Cmd is not a list of strings/);
});

test('env: image, then app, then agent; first position kept, last value wins; PATH and HOSTNAME', () => {
  const s = spec(
    { env: { LANG: 'de_DE.UTF-8', GANTRY_APP: 'spoofed', MODE: 'fast' } },
    {
      imageConfig: { Cmd: ['/x'], Env: ['PATH=/bin', 'LANG=C', 'EMPTY'] },
      agentEnv: { GANTRY_APP: 'meter', GANTRY_DEVICE_ID: 'gw-1' },
    },
  );
  assert.equal(s.process.env, [
    'HOSTNAME=meter',
    'PATH=/bin',
    'LANG=de_DE.UTF-8',
    'EMPTY=',
    'GANTRY_APP=meter',
    'MODE=fast',
    'GANTRY_DEVICE_ID=gw-1',
  ]);
});

test('env: the default PATH when nobody sets one; the eSDK socket when there is an eSDK dir', () => {
  const s = spec({}, { imageConfig: { Cmd: ['/x'] }, esdkDir: '/run/gantry/apps/meter' });
  assert.equal(s.process.env, [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'HOSTNAME=meter',
    'GANTRY_APP=meter',
    'GANTRY_ESDK_SOCKET=/run/gantry/esdk.sock',
  ]);
});

test('env: a bad variable name is refused', () => {
  assert.throws(() => spec({ env: { 'A=B': 'x' } }), /app meter: env: bad environment variable name "A=B"/);
});

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nmeter:x:1000:1000::/home/meter:/bin/sh\n';
const GROUP = 'root:x:0:\ndialout:x:20:meter\nmeter:x:1000:\n';

test('user: root by default, names resolved from the image files, app overrides image', () => {
  assert.equal(spec().process.user, { uid: 0, gid: 0 });
  const img = { Cmd: ['/x'], User: 'meter' };
  assert.equal(spec({}, { imageConfig: img, passwd: PASSWD, group: GROUP }).process.user, {
    uid: 1000,
    gid: 1000,
    additionalGids: [20],
  });
  assert.equal(spec({ user: '5:6' }, { imageConfig: img }).process.user, { uid: 5, gid: 6 });
});

test('user: an unknown name is refused naming where it came from', () => {
  assert.throws(() => spec({ user: 'nobody' }, { passwd: PASSWD }), /app meter: user: unknown user nobody/);
  assert.throws(
    () => spec({}, { imageConfig: { Cmd: ['/x'], User: 'ghost' } }),
    /image config User: unknown user ghost/,
  );
});

test('cwd: image WorkingDir, app override, "/" by default; relative is refused', () => {
  assert.is(spec().process.cwd, '/');
  assert.is(spec({}, { imageConfig: { Cmd: ['/x'], WorkingDir: '/app' } }).process.cwd, '/app');
  assert.is(spec({ workingDir: '/data' }, { imageConfig: { Cmd: ['/x'], WorkingDir: '/app' } }).process.cwd, '/data');
  assert.throws(() => spec({ workingDir: 'data' }), /working dir "data" is not absolute/);
});

test('rlimits: NOFILE 1024:1024, clamped to the agent hard limit', () => {
  assert.equal(spec().process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]);
  const low = spec({}, { hostRlimits: [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }] });
  assert.equal(low.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 512 }]);
  const unlimited = spec({}, { hostRlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: Number.POSITIVE_INFINITY }] });
  assert.equal(unlimited.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]);
  assert.equal(spec({}, { hostRlimits: [] }).process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]);
});

test('capabilities: the podman default set in bounding/effective/permitted; nothing inheritable or ambient', () => {
  const caps = spec().process.capabilities;
  assert.equal(caps.bounding, [...DEFAULT_CAPABILITIES]);
  assert.equal(caps.effective, [...DEFAULT_CAPABILITIES]);
  assert.equal(caps.permitted, [...DEFAULT_CAPABILITIES]);
  assert.equal(caps.inheritable, []);
  assert.equal(caps.ambient, []);
  assert.is(DEFAULT_CAPABILITIES.length, 11);
  assert.not.ok(DEFAULT_CAPABILITIES.includes('CAP_MKNOD') || DEFAULT_CAPABILITIES.includes('CAP_NET_RAW'));
});

test('no new privileges, no terminal, oomScoreAdj 500 by default and validated', () => {
  const s = spec();
  assert.is(s.process.noNewPrivileges, true);
  assert.is(s.process.terminal, false);
  assert.is(s.process.oomScoreAdj, 500);
  assert.is(spec({ oomScoreAdj: -100 }).process.oomScoreAdj, -100);
  assert.throws(() => spec({ oomScoreAdj: 1001 }), /oomScoreAdj must be an integer from -1000 to 1000/);
});

test('the whole spec is plain JSON: stringify and parse give it back', () => {
  const s = buildRuntimeSpec(bundleInput());
  assert.equal(JSON.parse(JSON.stringify(s)), s);
  assert.is(view(s).ociVersion, '1.0.2');
  assert.is(view(s).hostname, 'meter');
});

test.run();
