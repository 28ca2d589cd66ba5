import type { Db } from '../state/database.js';
import type { DeploymentDocument } from './types.js';

export type DeploymentStatus = 'applying' | 'applied' | 'rolled-back' | 'failed' | 'superseded';
export type DeploymentSource = 'cli' | 'cloud' | 'rollback';

export interface DeploymentRecord {
  revision: number;
  document: DeploymentDocument;
  source: DeploymentSource;
  status: DeploymentStatus;
  reasons: string[];
  receivedAt: string;
  finishedAt?: string;
}

export interface DeployState {
  /** The revision apply converges to (the last accepted one, or the last good one during a rollback). */
  targetRevision?: number;
  /** Set while converging back to the last good revision after this one failed. */
  rollingBackFrom?: number;
  lastGoodRevision?: number;
}

interface Row {
  revision: number;
  document: string;
  source: DeploymentSource;
  status: DeploymentStatus;
  reasons: string;
  received_at: string;
  finished_at: string | null;
}

const fromRow = (r: Row): DeploymentRecord => ({
  revision: r.revision,
  document: JSON.parse(r.document) as DeploymentDocument,
  source: r.source,
  status: r.status,
  reasons: JSON.parse(r.reasons) as string[],
  receivedAt: r.received_at,
  ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
});

/**
 * Deployments in SQLite: the history of accepted revisions and the one-row
 * deploy_state. Every transition is one transaction, so a kill -9 at any
 * point leaves either the state before it or the state after it; apply
 * resumes from deploy_state when the agent comes back.
 */
export class DeploymentStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
    /** How many finished revisions to keep (plus the target and the last good). */
    private readonly keep = 20,
  ) {}

  state(): DeployState {
    const r = this.db
      .prepare('SELECT target_revision, rolling_back_from, last_good_revision FROM deploy_state WHERE id = 1')
      .get() as { target_revision: number | null; rolling_back_from: number | null; last_good_revision: number | null };
    return {
      ...(r.target_revision !== null ? { targetRevision: r.target_revision } : {}),
      ...(r.rolling_back_from !== null ? { rollingBackFrom: r.rolling_back_from } : {}),
      ...(r.last_good_revision !== null ? { lastGoodRevision: r.last_good_revision } : {}),
    };
  }

  get(revision: number): DeploymentRecord | undefined {
    const row = this.db.prepare('SELECT * FROM deployments WHERE revision = ?').get(revision) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Newest first. */
  list(limit = 50): DeploymentRecord[] {
    return (this.db.prepare('SELECT * FROM deployments ORDER BY revision DESC LIMIT ?').all(limit) as Row[]).map(
      fromRow,
    );
  }

  /** The highest revision ever accepted for apply: a new document must be above it. */
  highestRevision(): number | undefined {
    const r = this.db.prepare('SELECT MAX(revision) AS m FROM deployments').get() as { m: number | null };
    return r.m ?? undefined;
  }

  /** The last applied revision before `revision` (what `gantry rollback` returns to). */
  previousGood(revision: number): DeploymentRecord | undefined {
    const row = this.db
      .prepare(`SELECT * FROM deployments WHERE revision < ? AND status = 'applied' ORDER BY revision DESC LIMIT 1`)
      .get(revision) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Accept a revision: it becomes the target; one still applying is superseded. */
  begin(doc: DeploymentDocument, source: DeploymentSource): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE deployments SET status = 'superseded', finished_at = ? WHERE status = 'applying'`)
        .run(at);
      this.db
        .prepare(
          `INSERT INTO deployments (revision, document, source, status, received_at) VALUES (?, ?, ?, 'applying', ?)`,
        )
        .run(doc.revision, JSON.stringify(doc), source, at);
      this.db
        .prepare('UPDATE deploy_state SET target_revision = ?, rolling_back_from = NULL WHERE id = 1')
        .run(doc.revision);
      this.trim();
    })();
  }

  /** Re-apply an earlier revision in place (gantry rollback): it becomes the target again. */
  reapply(revision: number, note: string): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE deployments SET status = 'superseded', finished_at = ? WHERE status = 'applying'`)
        .run(at);
      this.db
        .prepare(`UPDATE deployments SET status = 'applying', reasons = ?, finished_at = NULL WHERE revision = ?`)
        .run(JSON.stringify([note]), revision);
      this.db
        .prepare('UPDATE deploy_state SET target_revision = ?, rolling_back_from = NULL WHERE id = 1')
        .run(revision);
    })();
  }

  /** A revision failed before it changed anything (a pull): the last good one is the target again. */
  abandon(revision: number, reasons: string[]): void {
    this.db.transaction(() => {
      this.finish(revision, 'failed', reasons);
      this.db
        .prepare(
          'UPDATE deploy_state SET target_revision = last_good_revision, rolling_back_from = NULL WHERE id = 1 AND target_revision = ?',
        )
        .run(revision);
    })();
  }

  /** The target converged and passed its health gate. `also` runs in the same transaction (revision bumps of kept containers). */
  markApplied(revision: number, also?: () => void): void {
    this.db.transaction(() => {
      also?.();
      this.finish(revision, 'applied', []);
      this.db.prepare('UPDATE deploy_state SET last_good_revision = ? WHERE id = 1').run(revision);
    })();
  }

  /** A revision failed: converge back to the last good one (which stays the last good). */
  beginRollback(failed: number, reasons: string[]): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE deployments SET reasons = ? WHERE revision = ?').run(JSON.stringify(reasons), failed);
      const lastGood = this.state().lastGoodRevision ?? null;
      // Only while the failed revision is still the target: a newer accepted one must not be overwritten.
      this.db
        .prepare(
          'UPDATE deploy_state SET target_revision = ?, rolling_back_from = ? WHERE id = 1 AND target_revision = ?',
        )
        .run(lastGood, failed, failed);
    })();
  }

  /** The rollback converged: the failed revision is recorded as rolled back. */
  markRolledBack(failed: number, also?: () => void): void {
    this.db.transaction(() => {
      also?.();
      const reasons = this.get(failed)?.reasons ?? [];
      this.finish(failed, 'rolled-back', reasons);
      this.db.prepare('UPDATE deploy_state SET rolling_back_from = NULL WHERE id = 1').run();
    })();
  }

  /** Nothing more will be tried for this revision (no rollback wanted, or the rollback failed too). */
  markFailed(revision: number, reasons: string[]): void {
    this.db.transaction(() => {
      this.finish(revision, 'failed', reasons);
      this.db.prepare('UPDATE deploy_state SET rolling_back_from = NULL WHERE id = 1').run();
    })();
  }

  private finish(revision: number, status: DeploymentStatus, reasons: string[]): void {
    this.db
      .prepare('UPDATE deployments SET status = ?, reasons = ?, finished_at = ? WHERE revision = ?')
      .run(status, JSON.stringify(reasons), this.now().toISOString(), revision);
  }

  /** History is bounded; the target and the last good revision are never trimmed. */
  private trim(): void {
    this.db
      .prepare(
        `DELETE FROM deployments WHERE revision NOT IN (SELECT revision FROM deployments ORDER BY revision DESC LIMIT ?)
           AND revision IS NOT (SELECT last_good_revision FROM deploy_state WHERE id = 1)
           AND revision IS NOT (SELECT target_revision FROM deploy_state WHERE id = 1)`,
      )
      .run(this.keep);
  }
}
