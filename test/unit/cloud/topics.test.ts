import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyIncoming, deviceTopics, isTopicSegment, topicSegment } from '../../../agent/src/cloud/topics.js';
import { isGantryError } from '../../../agent/src/errors.js';

const test = suite('cloud: topic tree');

test('a device has the documented topics', () => {
  const t = deviceTopics('gw-0042');
  assert.is(t.status, 'gantry/v1/gw-0042/status');
  assert.is(t.desired, 'gantry/v1/gw-0042/desired');
  assert.is(t.reported, 'gantry/v1/gw-0042/reported');
  assert.is(t.events, 'gantry/v1/gw-0042/events');
  assert.is(t.commandFilter, 'gantry/v1/gw-0042/cmd/+');
  assert.is(t.telemetry('meter-reader', 'power.kw'), 'gantry/v1/gw-0042/telemetry/meter-reader/power.kw');
  assert.is(t.command('c1'), 'gantry/v1/gw-0042/cmd/c1');
  assert.is(t.commandResult('c1'), 'gantry/v1/gw-0042/cmd-result/c1');
});

test('names that could add a level, become a wildcard or truncate are refused', () => {
  for (const bad of ['', 'a/b', '+', 'a+b', '#', 'x#', 'nul\0x', '$SYS', '.hidden', 'a b', 'x'.repeat(129)]) {
    assert.not.ok(isTopicSegment(bad), JSON.stringify(bad));
    assert.throws(
      () => deviceTopics(bad),
      (e: unknown) => isGantryError(e, 'invalid') && e.message.includes('device id'),
    );
    assert.throws(
      () => deviceTopics('gw').telemetry('app', bad),
      (e: unknown) => isGantryError(e, 'invalid') && e.message.includes('stream name'),
    );
    assert.throws(
      () => deviceTopics('gw').telemetry(bad, 's'),
      (e: unknown) => isGantryError(e, 'invalid'),
    );
  }
});

test('the refusal says why', () => {
  assert.throws(() => topicSegment('app name', 'a/b'), /topic separator, wildcard or NUL/);
  assert.throws(() => topicSegment('app name', ''), /it is empty/);
  assert.throws(() => topicSegment('app name', 'x'.repeat(200)), /longer than 128/);
});

test('incoming topics are classified; anything else is not ours', () => {
  const t = deviceTopics('gw-1');
  assert.equal(classifyIncoming(t, 'gantry/v1/gw-1/desired'), { kind: 'desired' });
  assert.equal(classifyIncoming(t, 'gantry/v1/gw-1/cmd/abc-1'), { kind: 'command', id: 'abc-1' });
  assert.is(classifyIncoming(t, 'gantry/v1/gw-2/desired'), undefined);
  assert.is(classifyIncoming(t, 'gantry/v1/gw-1/cmd/a/b'), undefined);
  assert.is(classifyIncoming(t, 'gantry/v1/gw-1/cmd/'), undefined);
  assert.is(classifyIncoming(t, 'gantry/v1/gw-1/reported'), undefined);
});

test.run();
