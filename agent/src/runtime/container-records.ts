import type { Db } from '../state/database.js';
import type { AppSpec, ResolvedResources } from './types.js';

export type Desired = 'running' | 'stopped';
export type Health = 'starting' | 'healthy' | 'unhealthy';
export type EventType =
  | 'created'
  | 'started'
  | 'exited'
  | 'oom-killed'
  | 'unhealthy'
  | 'healthy'
  | 'restarting'
  | 'stopped'
  | 'paused'
  | 'resumed'
  | 'removed'
  | 'adopted';

export interface ContainerRecord {
  name: string;
  spec: AppSpec;
  resources: ResolvedResources;
  imageRef: string;
  imageDigest: string;
  desired: Desired;
  restarts: number;
  oomKills: number;
  health?: Health;
  createdAt: string;
  startedAt?: string;
  lastExit?: { code: number; at: string };
  /** Set when a deployment owns the container; `gantry run` apps have none and deployments leave them alone. */
  owner?: DeploymentOwner;
}

export interface DeploymentOwner {
  /** The deployment's app name (the container name may carry a slot suffix during a start-then-stop update). */
  app: string;
  revision: number;
  specHash: string;
}

export interface ContainerEvent {
  id: number;
  name: string;
  at: string;
  type: EventType;
  detail?: Record<string, unknown>;
}

interface Row {
  name: string;
  spec: string;
  resources: string;
  image_ref: string;
  image_digest: string;
  desired: Desired;
  restarts: number;
  oom_kills: number;
  health: Health | null;
  created_at: string;
  started_at: string | null;
  last_exit_code: number | null;
  last_exit_at: string | null;
  app: string | null;
  revision: number | null;
  spec_hash: string | null;
}

function fromRow(r: Row): ContainerRecord {
  const rec: ContainerRecord = {
    name: r.name,
    spec: JSON.parse(r.spec) as AppSpec,
    resources: JSON.parse(r.resources) as ResolvedResources,
    imageRef: r.image_ref,
    imageDigest: r.image_digest,
    desired: r.desired,
    restarts: r.restarts,
    oomKills: r.oom_kills,
    createdAt: r.created_at,
  };
  if (r.health) rec.health = r.health;
  if (r.started_at) rec.startedAt = r.started_at;
  if (r.last_exit_code !== null && r.last_exit_at) rec.lastExit = { code: r.last_exit_code, at: r.last_exit_at };
  if (r.app !== null && r.revision !== null && r.spec_hash !== null)
    rec.owner = { app: r.app, revision: r.revision, specHash: r.spec_hash };
  return rec;
}

/** The runtime's state in SQLite: what containers the agent owns and what happened to them. Every change is one statement or one transaction. */
export class ContainerRecords {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
    /** Told of every event after it is stored (reported state, cloud events). */
    private readonly onEvent?: (name: string, type: EventType, detail?: Record<string, unknown>) => void,
  ) {}

  insert(rec: Omit<ContainerRecord, 'restarts' | 'oomKills' | 'createdAt'>): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO containers (name, spec, resources, image_ref, image_digest, desired, created_at, app, revision, spec_hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          rec.name,
          JSON.stringify(rec.spec),
          JSON.stringify(rec.resources),
          rec.imageRef,
          rec.imageDigest,
          rec.desired,
          at,
          rec.owner?.app ?? null,
          rec.owner?.revision ?? null,
          rec.owner?.specHash ?? null,
        );
      this.addEvent(rec.name, 'created', { image: rec.imageRef });
    })();
  }

  get(name: string): ContainerRecord | undefined {
    const row = this.db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(): ContainerRecord[] {
    return (this.db.prepare('SELECT * FROM containers ORDER BY name').all() as Row[]).map(fromRow);
  }

  /** A deployment kept the app's containers as they are under a newer revision. */
  setAppRevision(app: string, revision: number): void {
    this.db.prepare('UPDATE containers SET revision = ? WHERE app = ?').run(revision, app);
  }

  setDesired(name: string, desired: Desired): void {
    this.db.prepare('UPDATE containers SET desired = ? WHERE name = ?').run(desired, name);
  }

  markStarted(name: string, restarted: boolean): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE containers SET started_at = ?, restarts = restarts + ? WHERE name = ?`)
        .run(at, restarted ? 1 : 0, name);
      this.addEvent(name, 'started', restarted ? { restart: true } : undefined);
    })();
  }

  /** Record an exit once: a second report of the same exit (same time) is ignored, so re-adoption can replay safely. */
  recordExit(
    name: string,
    exit: { exitCode: number; oomKilled: boolean; finishedAt: string },
    detail?: Record<string, unknown>,
  ): boolean {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT last_exit_at FROM containers WHERE name = ?').get(name) as
        | { last_exit_at: string | null }
        | undefined;
      if (!row || row.last_exit_at === exit.finishedAt) return false;
      this.db
        .prepare(
          `UPDATE containers SET last_exit_code = ?, last_exit_at = ?, oom_kills = oom_kills + ?, health = CASE WHEN health IS NULL THEN NULL ELSE 'starting' END WHERE name = ?`,
        )
        .run(exit.exitCode, exit.finishedAt, exit.oomKilled ? 1 : 0, name);
      this.addEvent(name, exit.oomKilled ? 'oom-killed' : 'exited', { exitCode: exit.exitCode, ...detail });
      return true;
    })();
  }

  setHealth(name: string, health: Health | null, event?: EventType, detail?: Record<string, unknown>): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE containers SET health = ? WHERE name = ?').run(health, name);
      if (event) this.addEvent(name, event, detail);
    })();
  }

  remove(name: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM containers WHERE name = ?').run(name);
      this.addEvent(name, 'removed');
    })();
  }

  addEvent(name: string, type: EventType, detail?: Record<string, unknown>): void {
    this.db
      .prepare('INSERT INTO container_events (name, at, type, detail) VALUES (?, ?, ?, ?)')
      .run(name, this.now().toISOString(), type, detail ? JSON.stringify(detail) : null);
    // After the statement: inside a transaction a listener may see it before commit, which is
    // harmless for what listeners do (schedule a report). Its errors must not undo the change.
    try {
      this.onEvent?.(name, type, detail);
    } catch {
      // A listener's failure is its own.
    }
  }

  events(name: string, limit = 50): ContainerEvent[] {
    const rows = this.db
      .prepare('SELECT * FROM (SELECT * FROM container_events WHERE name = ? ORDER BY id DESC LIMIT ?) ORDER BY id')
      .all(name, limit) as Array<{ id: number; name: string; at: string; type: EventType; detail: string | null }>;
    return rows.map((r) =>
      r.detail
        ? { ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }
        : { id: r.id, name: r.name, at: r.at, type: r.type },
    );
  }
}
