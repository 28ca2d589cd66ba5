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
];
