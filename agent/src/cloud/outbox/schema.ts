import { type Db, openDatabase } from '../../state/database.js';

export type OutboxDb = Db;

/**
 * The outbox lives in its own SQLite file, not in the state database: it takes
 * a high write rate (group commits many times a second) and must not make
 * deployments and image records wait behind it, nor they behind it.
 *
 * Append-only list of schema versions, kept in `PRAGMA user_version`.
 */
const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'outbox',
    sql: `
      -- epoch: random, made when the file is created; msg-id = <epoch>-<id> stays unique
      -- for the cloud's dedup even if this file is deleted and ids start again.
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      -- Next per-stream sequence number (kept after a stream's messages are gone).
      CREATE TABLE streams (
        name     TEXT PRIMARY KEY,
        next_seq INTEGER NOT NULL
      ) STRICT;

      -- Lifetime totals for reported state: enqueued, acked, evicted.<p>, evicted_bytes, expired.<p>.
      CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT;

      -- AUTOINCREMENT: an id is never reused, even after every row is deleted.
      CREATE TABLE messages (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        priority     INTEGER NOT NULL,
        stream       TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        topic        TEXT NOT NULL,
        content_type TEXT,
        payload      BLOB NOT NULL,
        bytes        INTEGER NOT NULL,   -- what the row counts against the cap
        enqueued_at  INTEGER NOT NULL,   -- ms since the epoch
        expires_at   INTEGER             -- ms since the epoch; NULL: never
      ) STRICT;
      -- Drain order (priority DESC, id) and eviction order (one priority, id ASC).
      CREATE INDEX messages_order ON messages (priority DESC, id);
      CREATE INDEX messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
];

/**
 * Open (creating) an outbox file: WAL, so the drainer's reads never wait for a
 * commit; synchronous=FULL, so a resolved enqueue survives a power cut (the
 * outbox turns it down to NORMAL around ack-only commits, where a lost delete
 * only means a duplicate the cloud drops by id). Migrations as the state
 * database's, with its own list.
 */
export function openOutboxDb(file: string): OutboxDb {
  return openDatabase(file, MIGRATIONS, `outbox ${file}`);
}
