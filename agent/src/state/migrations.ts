/**
 * Versioned schema of the state database. Append only: a shipped migration is
 * never edited, because gateways in the field already ran it. The version
 * lives in SQLite's `PRAGMA user_version`.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'meta',
    sql: `
      -- Small facts about this agent installation (device id, first start).
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'images',
    sql: `
      -- One row per pulled reference (several references may share a manifest).
      CREATE TABLE images (
        ref             TEXT PRIMARY KEY,  -- canonical reference as pulled (formatReference)
        manifest_digest TEXT NOT NULL,     -- the platform manifest in use
        index_digest    TEXT,              -- the index it was chosen from, if any
        config_digest   TEXT NOT NULL,
        platform        TEXT NOT NULL,     -- linux/arm/v7
        size            INTEGER NOT NULL,  -- compressed bytes of the layers
        unpacked_size   INTEGER NOT NULL,  -- bytes of the unpacked layers
        pulled_at       TEXT NOT NULL
      ) STRICT;
      -- Layers of each manifest, in order; blobs and snapshots in use are derived from here.
      CREATE TABLE image_layers (
        manifest_digest TEXT NOT NULL,
        position        INTEGER NOT NULL,
        blob_digest     TEXT NOT NULL,
        diff_id         TEXT NOT NULL,
        media_type      TEXT NOT NULL,
        size            INTEGER NOT NULL,
        PRIMARY KEY (manifest_digest, position)
      ) STRICT;
      -- Unpacked layers, committed (renamed into place) before their row is written.
      CREATE TABLE snapshots (
        diff_id    TEXT PRIMARY KEY,
        size       INTEGER NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'containers',
    sql: `
      -- One row per app container the agent owns; the runtime (runc state, conmon exit files) says how it is.
      CREATE TABLE containers (
        name            TEXT PRIMARY KEY,
        spec            TEXT NOT NULL,     -- AppSpec JSON as asked
        resources       TEXT NOT NULL,     -- ResolvedResources JSON after admission
        image_ref       TEXT NOT NULL,
        image_digest    TEXT NOT NULL,     -- manifest digest: pins the image against rmi/prune
        desired         TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
        restarts        INTEGER NOT NULL DEFAULT 0,
        oom_kills       INTEGER NOT NULL DEFAULT 0,
        health          TEXT,              -- starting | healthy | unhealthy | NULL without a check
        created_at      TEXT NOT NULL,
        started_at      TEXT,
        last_exit_code  INTEGER,
        last_exit_at    TEXT
      ) STRICT;
      CREATE TABLE container_events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        name    TEXT NOT NULL,
        at      TEXT NOT NULL,
        type    TEXT NOT NULL,             -- created, started, exited, oom-killed, unhealthy, healthy, restarting, stopped, removed, adopted
        detail  TEXT                       -- JSON
      ) STRICT;
      CREATE INDEX container_events_by_name ON container_events (name, id);
    `,
  },
  {
    version: 4,
    name: 'retired images',
    sql: `
      -- 1: this row keeps an image whose tag moved on (kept for the apps still running it; prune drops it once unused).
      ALTER TABLE images ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 5,
    name: 'deployments',
    sql: `
      -- Containers a deployment owns carry their app, revision and spec hash; gantry run's apps have NULLs.
      ALTER TABLE containers ADD COLUMN app TEXT;
      ALTER TABLE containers ADD COLUMN revision INTEGER;
      ALTER TABLE containers ADD COLUMN spec_hash TEXT;
      -- Every deployment document the agent accepted for apply, and how it ended.
      CREATE TABLE deployments (
        revision     INTEGER PRIMARY KEY,
        document     TEXT NOT NULL,        -- the DeploymentDocument JSON
        source       TEXT NOT NULL,        -- cli | cloud | rollback
        status       TEXT NOT NULL CHECK (status IN ('applying', 'applied', 'rolled-back', 'failed', 'superseded')),
        reasons      TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
        received_at  TEXT NOT NULL,
        finished_at  TEXT
      ) STRICT;
      -- One row: what the agent converges to (target) and where a failed revision returns to (last good).
      CREATE TABLE deploy_state (
        id                  INTEGER PRIMARY KEY CHECK (id = 1),
        target_revision     INTEGER,       -- the revision apply is (or was last) converging to
        rolling_back_from   INTEGER,       -- set while the target is a rollback of this failed revision
        last_good_revision  INTEGER
      ) STRICT;
      INSERT INTO deploy_state (id) VALUES (1);
    `,
  },
];
