import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIssue } from '../../../agent/src/config/json-document.js';
import { BUNDLED_PROFILES_DIR, loadProfile, ProfileValidator } from '../../../agent/src/config/profile.js';
import { isGantryError } from '../../../agent/src/errors.js';

const test = suite('firmware profiles');

const validatorP = ProfileValidator.load();
const ecIot = () => readFile(path.join(BUNDLED_PROFILES_DIR, 'ec-iot-arm.json'), 'utf8');

/** Change one field of a valid profile, keeping its formatting (so lines stay meaningful). */
function mutate(text: string, mutateFn: (p: Record<string, unknown>) => void): string {
  const p = JSON.parse(text) as Record<string, unknown>;
  mutateFn(p);
  return JSON.stringify(p, null, 2);
}

test('every shipped profile is valid', async () => {
  const validator = await validatorP;
  const files = (await readdir(BUNDLED_PROFILES_DIR)).filter((f) => f.endsWith('.json') && f !== 'schema.json');
  assert.ok(files.length >= 3, `expected at least three profiles, found ${files.join(', ')}`);
  for (const f of files) {
    const result = validator.check(await readFile(path.join(BUNDLED_PROFILES_DIR, f), 'utf8'));
    assert.ok(result.ok, `${f}: ${result.issues.map((i) => formatIssue(f, i)).join('; ')}`);
    if (result.ok) assert.is(`${result.profile.model}.json`, f, 'a profile file is named after its model');
  }
});

test('the EC-IoT profile has what the gateway has', async () => {
  const { profile } = await loadProfile('ec-iot-arm', await validatorP);
  assert.equal(profile.arch, { architecture: 'arm', variant: 'v7' });
  assert.is(profile.memory.totalMiB, 512);
  assert.is(profile.serialPorts?.filter((s) => s.kind === 'rs485').length, 2);
  assert.is(profile.serialPorts?.filter((s) => s.kind === 'rs232').length, 1);
  assert.is(profile.gpio?.lines.filter((l) => l.direction === 'in').length, 4);
  assert.is(profile.gpio?.lines.filter((l) => l.direction === 'out').length, 4);
  assert.ok(profile.sensors?.some((s) => s.name === 'board-temp'));
});

test('schema errors name every problem with its JSON path and line', async () => {
  const validator = await validatorP;
  const text = mutate(await ecIot(), (p) => {
    (p.arch as Record<string, unknown>).architecture = 'sparc';
    delete p.vendor;
    ((p.serialPorts as Array<Record<string, unknown>>)[1] as Record<string, unknown>).baudRates = 'fast';
    p.colour = 'blue';
  });
  const result = validator.check(text);
  assert.not.ok(result.ok);
  const byPath = new Map(result.issues.map((i) => [i.path, i]));
  assert.ok(byPath.get('/arch/architecture')?.message.includes('must be one of'));
  assert.is(byPath.get('/vendor')?.message, 'is required');
  assert.ok(byPath.has('/serialPorts/1/baudRates'));
  assert.is(byPath.get('/colour')?.message, 'is not a known property');
  const baud = byPath.get('/serialPorts/1/baudRates');
  const expectedLine = text.split('\n').findIndex((l) => l.includes('"fast"')) + 1;
  assert.is(baud?.line, expectedLine, 'line of the offending value');
});

test('semantic rules: duplicate names, budget over the board, default baud, arm variant', async () => {
  const validator = await validatorP;
  const text = mutate(await ecIot(), (p) => {
    const lines = (p.gpio as { lines: Array<Record<string, unknown>> }).lines;
    (lines[1] as Record<string, unknown>).name = 'rs485-1';
    (p.appBudget as Record<string, unknown>).memoryMiB = 480;
    ((p.serialPorts as Array<Record<string, unknown>>)[0] as Record<string, unknown>).defaultBaud = 250000;
    p.arch = { architecture: 'arm' };
  });
  const result = validator.check(text);
  assert.not.ok(result.ok);
  const messages = result.issues.map((i) => `${i.path}: ${i.message}`);
  assert.ok(
    messages.includes('/gpio/lines/1/name: device name "rs485-1" is already used at /serialPorts/0/name'),
    messages.join('\n'),
  );
  assert.ok(
    messages.includes("/appBudget/memoryMiB: app budget 480 MiB plus agent reserve 96 MiB exceeds the board's 512 MiB"),
    messages.join('\n'),
  );
  assert.ok(messages.includes("/serialPorts/0/defaultBaud: 250000 is not one of this port's baudRates"));
  assert.ok(messages.includes('/arch/variant: 32-bit arm needs a variant of v5, v6 or v7'));
  assert.ok(result.issues.every((i) => typeof i.line === 'number'));
});

test('a JSON syntax error is reported with its line and column', async () => {
  const result = (await validatorP).check('{\n  "model": "x",\n  oops\n}');
  assert.not.ok(result.ok);
  assert.is(result.issues.length, 1);
  assert.is(result.issues[0]?.line, 3);
  assert.ok(result.issues[0]?.message.startsWith('invalid JSON'));
});

test('loadProfile: by name, by path, unknown name, invalid file', async () => {
  const validator = await validatorP;
  const byName = await loadProfile('raspberrypi-4', validator);
  assert.is(byName.profile.model, 'raspberrypi-4');
  const byPath = await loadProfile(path.join(BUNDLED_PROFILES_DIR, 'generic-x86_64.json'), validator);
  assert.is(byPath.profile.arch.architecture, 'amd64');
  try {
    await loadProfile('no-such-gateway', validator);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.ok(isGantryError(e, 'not-found'));
  }
  try {
    await loadProfile(path.join(BUNDLED_PROFILES_DIR, 'schema.json'), validator);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'));
    assert.match((e as Error).message, /schema\.json:1:1: \/model: is required/);
  }
});

test.run();
