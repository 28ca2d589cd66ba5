import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DeviceInfo } from '../../../scripts/fleet/fleet-view.js';
import { parseGroup, resolveGroup } from '../../../scripts/fleet/groups.js';

const test = suite('fleet: groups (id files, lists, selectors)');

const device = (id: string, model: string, revision: number | undefined, online: boolean, apps: string[] = []) =>
  ({
    id,
    online,
    status: { state: online ? 'online' : 'offline', model, agentVersion: '0.1.0' },
    reported: { agent: { model, arch: 'arm', version: '0.1.0' } },
    deployment: revision === undefined ? { applying: false } : { revision, applying: false },
    apps: apps.map((name) => ({ name, state: 'running' })),
    events: [],
  }) satisfies DeviceInfo;

const known = [
  device('gw-b', 'ec-iot-arm', 7, true, ['meter']),
  device('gw-a', 'ec-iot-arm', 6, true),
  device('rpi-1', 'raspberrypi-4', 7, false),
  device('gw-c', 'ec-iot-arm', undefined, false),
];

test('a file of ids keeps its order; comments and blank lines are ignored', () => {
  const g = parseGroup('site-7.txt', '# site 7\ngw-c\n\ngw-a  # the canary\n');
  assert.equal(resolveGroup(g, known), ['gw-c', 'gw-a']);
  assert.throws(() => parseGroup('f', 'gw-a\ngw-a\n'), /lists device gw-a twice/);
  assert.throws(() => parseGroup('f', 'gw/a\n'), /"gw\/a" is not a device id/);
  assert.throws(() => parseGroup('f', '# nothing\n'), /lists no device ids/);
});

test('a comma list of ids, including ones the broker has never seen', () => {
  assert.equal(resolveGroup(parseGroup('gw-b, gw-zz'), known), ['gw-b', 'gw-zz']);
  assert.throws(() => parseGroup('gw-a,+'), /"\+" is not a device id/);
});

test('selectors: every term must match; matches sorted by id', () => {
  const ids = (text: string) => resolveGroup(parseGroup(text), known);
  assert.equal(ids('model=ec-iot-arm'), ['gw-a', 'gw-b', 'gw-c']);
  assert.equal(ids('model=ec-iot-arm,revision=7'), ['gw-b']);
  assert.equal(ids('revision=7'), ['gw-b', 'rpi-1']);
  assert.equal(ids('revision=none'), ['gw-c']);
  assert.equal(ids('status=offline'), ['gw-c', 'rpi-1']);
  assert.equal(ids('id=gw-*'), ['gw-a', 'gw-b', 'gw-c']);
  assert.equal(ids('app=meter'), ['gw-b']);
  assert.equal(ids('arch=arm,version=0.1.0'), ['gw-a', 'gw-b', 'gw-c', 'rpi-1']);
  assert.equal(ids('all'), ['gw-a', 'gw-b', 'gw-c', 'rpi-1']);
  assert.throws(
    () => parseGroup('colour=red'),
    /"colour=red" is not a selector term; use KEY=VALUE with KEY one of id,/,
  );
  assert.throws(() => parseGroup('model='), /not a selector term/);
  assert.throws(() => parseGroup(' , '), /--group is empty/);
});

test.run();
