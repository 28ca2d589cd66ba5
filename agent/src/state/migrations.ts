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
];
