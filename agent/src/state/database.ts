import Database from 'better-sqlite3';
import { failedPrecondition, internal } from '../errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

/**
 * Open (creating if needed) the agent's SQLite database and bring its schema
 * up to date.
 *
 * - WAL: readers never block the writer, and a crash leaves the last committed
 *   transaction intact.
 * - synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
 *   loss; the agent acknowledges telemetry and deployments only after commit,
 *   so a commit must survive a power cut.
 */
export function openDatabase(
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
  /** Names the database in errors ("state database", "outbox /var/lib/gantry/outbox.db"). */
  what = 'state database',
): Db {
  const db = new Database(file, { timeout: 5000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, what);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Each migration and its version bump commit together, so a crash mid-way re-runs only the unfinished one. */
export function migrate(db: Db, migrations: readonly Migration[], what = 'state database'): void {
  const latest = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  if (current > latest) {
    throw failedPrecondition(
      `${what} schema is version ${current}, newer than this agent knows (${latest}); refusing to downgrade`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (e) {
      throw internal(`${what} migration ${m.version} (${m.name}) failed`, { cause: e });
    }
  }
}

/** Reads and writes of the `meta` table. */
export class MetaStore {
  constructor(private readonly db: Db) {}

  get(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  /** Returns the stored value, inserting `make()` first if the key is absent. */
  getOrInsert(key: string, make: () => string): string {
    return this.db.transaction(() => {
      const existing = this.get(key);
      if (existing !== undefined) return existing;
      const value = make();
      this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(key, value);
      return value;
    })();
  }

  set(key: string, value: string): void {
    this.db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }
}
