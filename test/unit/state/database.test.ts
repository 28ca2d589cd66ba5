import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../agent/src/errors.js';
import { MetaStore, openDatabase, schemaVersion } from '../../../agent/src/state/database.js';
import type { Migration } from '../../../agent/src/state/migrations.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir }>('state database (real SQLite)');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir();
});
test.after.each(async (ctx) => {
  await ctx.dir.cleanup();
});

const M1: Migration = { version: 1, name: 't', sql: 'CREATE TABLE t (x INTEGER) STRICT;' };
const M2: Migration = { version: 2, name: 'u', sql: 'CREATE TABLE u (y TEXT) STRICT;' };

test('opens in WAL with full sync and applies migrations once', ({ dir }) => {
  const file = path.join(dir.path, 'state.db');
  const db = openDatabase(file, [M1]);
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.is(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  assert.is(schemaVersion(db), 1);
  db.close();
  const again = openDatabase(file, [M1, M2]);
  assert.is(schemaVersion(again), 2);
  again.prepare('INSERT INTO u (y) VALUES (?)').run('ok');
  again.close();
});

test('a failing migration leaves the previous version intact', ({ dir }) => {
  const file = path.join(dir.path, 'state.db');
  openDatabase(file, [M1]).close();
  const bad: Migration = { version: 2, name: 'bad', sql: 'CREATE TABLE v (a INTEGER); THIS IS NOT SQL;' };
  try {
    openDatabase(file, [M1, bad]);
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(isGantryError(e, 'internal'));
    assert.match((e as Error).message, /migration 2 \(bad\) failed/);
  }
  const db = openDatabase(file, [M1]);
  assert.is(schemaVersion(db), 1);
  const row = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'v'").get() as { n: number };
  assert.is(row.n, 0, 'table v rolled back');
  db.close();
});

test('refuses a database from a newer agent', ({ dir }) => {
  const file = path.join(dir.path, 'state.db');
  openDatabase(file, [M1, M2]).close();
  try {
    openDatabase(file, [M1]);
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(isGantryError(e, 'failed-precondition'));
    assert.match((e as Error).message, /version 2, newer than this agent knows \(1\)/);
  }
});

test('meta store: getOrInsert keeps the first value', ({ dir }) => {
  const db = openDatabase(path.join(dir.path, 'state.db'));
  const meta = new MetaStore(db);
  assert.is(meta.get('device-id'), undefined);
  assert.is(
    meta.getOrInsert('device-id', () => 'gw-1'),
    'gw-1',
  );
  assert.is(
    meta.getOrInsert('device-id', () => 'gw-2'),
    'gw-1',
  );
  meta.set('device-id', 'gw-3');
  assert.is(meta.get('device-id'), 'gw-3');
  db.close();
});

test.run();
