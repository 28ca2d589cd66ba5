import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { invalid, messageOf, unavailable } from '../../errors.js';
import { type OutboxDb, openOutboxDb } from './schema.js';

/**
 * The durable store-and-forward queue between producers (telemetry, events)
 * and the MQTT session.
 *
 * - enqueue resolves after the messages are committed with synchronous=FULL:
 *   what a producer was told is stored survives kill -9 and power loss.
 * - Group commit: every enqueue (and ack) that arrives before the next commit
 *   runs goes into one transaction, so thousands of small enqueues cost one
 *   fsync, not one each. better-sqlite3 is synchronous, so "during a commit"
 *   is the same as "before the next one": callers queue in the event loop.
 * - Order: nextBatch hands out by priority (high first), then id. Within one
 *   stream order is strict: when a message comes with a higher priority than
 *   its stream's queued ones, those are raised to it (priority inheritance),
 *   so in every stream priority never increases with id and the global order
 *   never puts a stream's later message before an earlier one. Messages in
 *   flight are leased (in memory only: after a crash everything unacked is
 *   sent again). Publishing a window of leased messages in that order over one
 *   MQTT connection at QoS 1 keeps per-topic order at the broker; a message
 *   that was sent but not acked before a disconnect is sent again, so the
 *   cloud may see duplicates and drops them by msg-id.
 * - Identity: `id` is monotonic (AUTOINCREMENT, never reused); `msgId` =
 *   `<epoch>-<id>` with a random epoch per outbox file is the cloud's dedup
 *   key; `seq` counts per stream, so a gap tells the cloud what was evicted or
 *   expired. The publisher sends them as MQTT 5 user properties (see
 *   publishProperties), so the payload stays the producer's.
 * - Cap: the sum of row sizes (payload + topic + stream + a fixed overhead)
 *   stays under capBytes by deleting the lowest priority, oldest first, at the
 *   commit that went over; SQLite reuses the freed pages, so the file stays
 *   near the cap. Evictions and TTL expiries are counted per priority, durably.
 */

export interface OutboxInput {
  topic: string;
  payload: Uint8Array;
  /** 0 (lowest) .. 9 (highest). */
  priority: number;
  /** Ordering lane: messages of one stream are published in enqueue order. */
  stream: string;
  /** Dropped (and counted) when still queued this long after enqueue. */
  ttlSec?: number;
  contentType?: string;
}

export interface OutboxMessage {
  id: number;
  /** `<epoch>-<id>`: unique across this device's outbox files; the cloud dedups on it. */
  msgId: string;
  stream: string;
  /** 1, 2, 3 ... per stream. */
  seq: number;
  topic: string;
  payload: Uint8Array;
  priority: number;
  contentType?: string;
  enqueuedAt: number;
  expiresAt?: number;
  /** What the message counts against the cap. */
  bytes: number;
}

export type OutboxLog = Pick<Logger, 'warn' | 'error'>;

export interface OutboxOptions {
  /** Upper bound of the queued bytes (rows' payload, topic, stream and overhead). */
  capBytes: number;
  log?: OutboxLog;
  /** ms since the epoch; for TTL. Default Date.now. */
  clock?: () => number;
  /** Extra wait before a commit, to gather more into it. Default 0: the next event-loop turn. */
  commitDelayMs?: number;
  /** How often nextBatch sweeps expired messages out, ms. Default 1000. */
  expireEveryMs?: number;
}

export interface PriorityCounts {
  count: number;
  bytes: number;
  /** Index = priority. */
  byPriority: number[];
}

export interface OutboxStats {
  queued: PriorityCounts;
  /** Handed out by nextBatch, not acked or released yet. */
  inFlight: number;
  /** Lifetime totals (kept in the file). */
  enqueued: number;
  acked: number;
  evicted: PriorityCounts;
  expired: Omit<PriorityCounts, 'bytes'>;
  /** Transactions since open (group commit: far fewer than enqueue calls). */
  commits: number;
  /** Enqueue calls since open. */
  enqueueCalls: number;
}

/** Fixed per-row cost counted against the cap: ids, seq, times, b-tree and index entries. */
const ROW_OVERHEAD = 64;
const PRIORITIES = 10;

interface EnqueueRequest {
  msgs: OutboxInput[];
  resolve: (ids: number[]) => void;
  reject: (e: unknown) => void;
}

interface Row {
  id: number;
  priority: number;
  stream: string;
  seq: number;
  topic: string;
  content_type: string | null;
  payload: Buffer;
  bytes: number;
  enqueued_at: number;
  expires_at: number | null;
}

const zeros = () => new Array<number>(PRIORITIES).fill(0);

export class Outbox {
  readonly epoch: string;
  private readonly clock: () => number;
  private readonly log: OutboxLog | undefined;
  private pending: EnqueueRequest[] = [];
  private pendingAcks: number[] = [];
  /** Cancels the scheduled commit; undefined when none is scheduled. */
  private scheduled: (() => void) | undefined;
  private closed = false;
  private readonly leased = new Set<number>();
  private readonly listeners = new Set<() => void>();
  private lastExpireAt = 0;
  /**
   * Drain position: the last row nextBatch handed out. Every row before it in
   * drain order is leased (or expired), so the next read starts there. Reset
   * when that stops being true: a release, or a commit that put a row before
   * it (a higher priority, or a priority raise).
   */
  private cursor: { priority: number; id: number } | undefined;
  private syncMode: 'FULL' | 'NORMAL' = 'FULL';

  // In-memory mirrors of what is committed; changed only after a commit succeeds.
  private readonly nextSeq = new Map<string, number>();
  /** Priority of each stream's newest message: the lowest of its queued ones (see priority inheritance). */
  private readonly streamPriority = new Map<string, number>();
  private readonly queued: PriorityCounts = { count: 0, bytes: 0, byPriority: zeros() };
  private readonly totals = new Map<string, number>();
  private commits = 0;
  private enqueueCalls = 0;

  private readonly st: ReturnType<typeof prepare>;

  static open(file: string, opts: OutboxOptions): Outbox {
    if (!(Number.isFinite(opts.capBytes) && opts.capBytes > 0)) {
      throw invalid(`outbox capBytes must be a positive number, got ${String(opts.capBytes)}`);
    }
    return new Outbox(openOutboxDb(file), file, opts);
  }

  private constructor(
    private readonly db: OutboxDb,
    readonly file: string,
    private readonly opts: OutboxOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log;
    this.st = prepare(db);
    this.epoch = this.loadEpoch();
    for (const r of db.prepare('SELECT name, next_seq FROM streams').all() as Array<{
      name: string;
      next_seq: number;
    }>) {
      this.nextSeq.set(r.name, r.next_seq);
    }
    for (const r of db.prepare('SELECT name, value FROM counters').all() as Array<{ name: string; value: number }>) {
      this.totals.set(r.name, r.value);
    }
    const byPriority = db
      .prepare('SELECT priority, count(*) AS n, coalesce(sum(bytes), 0) AS b FROM messages GROUP BY priority')
      .all() as Array<{ priority: number; n: number; b: number }>;
    for (const r of byPriority) {
      this.queued.byPriority[r.priority] = r.n;
      this.queued.count += r.n;
      this.queued.bytes += r.b;
    }
    const newest = db
      .prepare('SELECT stream, priority FROM messages WHERE id IN (SELECT max(id) FROM messages GROUP BY stream)')
      .all() as Array<{ stream: string; priority: number }>;
    for (const r of newest) this.streamPriority.set(r.stream, r.priority);
  }

  private loadEpoch(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get() as { value: string } | undefined;
    if (row) return row.value;
    const epoch = randomBytes(6).toString('hex');
    this.db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(epoch);
    return epoch;
  }

  /** Store messages durably; resolves with their ids (in order) once committed. */
  enqueue(msgs: OutboxInput[]): Promise<number[]> {
    if (this.closed) return Promise.reject(unavailable(`outbox ${this.file} is closed`));
    for (const m of msgs) checkInput(m);
    this.enqueueCalls++;
    if (msgs.length === 0) return Promise.resolve([]);
    return new Promise<number[]>((resolve, reject) => {
      this.pending.push({ msgs, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Lease up to `max` committed messages, in drain order, that are not in
   * flight, acked or expired. Each stays leased until ack or release.
   */
  nextBatch(max: number): OutboxMessage[] {
    if (this.closed || max <= 0) return [];
    const now = this.clock();
    if (now - this.lastExpireAt >= (this.opts.expireEveryMs ?? 1000)) this.expire(now);
    const out: OutboxMessage[] = [];
    const take = (rows: Row[]) => {
      for (const r of rows) {
        if (out.length >= max) return;
        if (this.leased.has(r.id) || (r.expires_at !== null && r.expires_at <= now)) continue;
        this.leased.add(r.id);
        out.push(this.toMessage(r));
      }
    };
    const c = this.cursor;
    if (c) {
      // Everything up to the cursor is leased: read on from it (two index range scans).
      take(this.st.afterInPriority.all(c.priority, c.id, max) as Row[]);
      if (out.length < max) take(this.st.belowPriority.all(c.priority, max - out.length) as Row[]);
    } else {
      // No cursor (start, a release, a message that sorts before it): read from the top, past the leased rows.
      take(this.st.ordered.all(max + this.leased.size) as Row[]);
    }
    const last = out.at(-1);
    if (last) this.cursor = { priority: last.priority, id: last.id };
    return out;
  }

  /** The publish was acknowledged (PUBACK): delete at the next commit. */
  ack(ids: readonly number[]): void {
    if (this.closed || ids.length === 0) return;
    // Stay leased until the delete commits, so nextBatch cannot hand them out again meanwhile.
    for (const id of ids) this.pendingAcks.push(id);
    this.schedule();
  }

  /** Give leased messages back (the publish failed or the link went down): they will be handed out again. */
  release(ids: readonly number[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.leased.delete(id);
    this.cursor = undefined;
  }

  /** Called after every commit that stored new messages (the drainer wakes up on it). Returns an unsubscribe. */
  onCommitted(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Delete messages whose TTL is over; returns how many. nextBatch calls it every expireEveryMs. */
  expire(now = this.clock()): number {
    this.lastExpireAt = now;
    const groups = this.st.expiredByPriority.all(now) as Array<{ priority: number; n: number; b: number }>;
    if (groups.length === 0) return 0;
    let total = 0;
    this.db.transaction(() => {
      this.st.deleteExpired.run(now);
      for (const g of groups) this.st.addCounter.run(`expired.${g.priority}`, g.n);
    })();
    for (const g of groups) {
      total += g.n;
      this.bumpTotal(`expired.${g.priority}`, g.n);
      this.countQueued(g.priority, -g.n, -g.b);
    }
    this.commits++;
    return total;
  }

  stats(): OutboxStats {
    const per = (prefix: string) =>
      Array.from({ length: PRIORITIES }, (_, p) => this.totals.get(`${prefix}.${p}`) ?? 0);
    const evictedBy = per('evicted');
    const expiredBy = per('expired');
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    return {
      queued: { count: this.queued.count, bytes: this.queued.bytes, byPriority: [...this.queued.byPriority] },
      inFlight: this.leased.size,
      enqueued: this.totals.get('enqueued') ?? 0,
      acked: this.totals.get('acked') ?? 0,
      evicted: { count: sum(evictedBy), bytes: this.totals.get('evicted_bytes') ?? 0, byPriority: evictedBy },
      expired: { count: sum(expiredBy), byPriority: expiredBy },
      commits: this.commits,
      enqueueCalls: this.enqueueCalls,
    };
  }

  /** Commit what is waiting, then close the file. Later enqueues are refused. */
  close(): void {
    if (this.closed) return;
    this.scheduled?.();
    this.scheduled = undefined;
    this.commit();
    this.closed = true;
    this.db.close();
  }

  private schedule(): void {
    if (this.scheduled) return;
    const delay = this.opts.commitDelayMs ?? 0;
    if (delay > 0) {
      const timer = setTimeout(() => this.runScheduled(), delay);
      this.scheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.runScheduled());
      this.scheduled = () => clearImmediate(immediate);
    }
  }

  private runScheduled(): void {
    this.scheduled = undefined;
    if (!this.closed) this.commit();
  }

  /** One transaction for every waiting enqueue and ack. */
  private commit(): void {
    const requests = this.pending;
    const acks = this.pendingAcks;
    this.pending = [];
    this.pendingAcks = [];
    if (requests.length === 0 && acks.length === 0) return;

    // A lost ack only means a duplicate later; a lost enqueue breaks a promise. Only the latter pays for FULL.
    this.setSync(requests.length > 0 ? 'FULL' : 'NORMAL');
    let result: CommitResult;
    try {
      result = this.db.transaction(() => this.write(requests, acks))();
    } catch (e) {
      this.log?.error({ err: messageOf(e), file: this.file }, 'outbox commit failed');
      const err = unavailable(`outbox ${this.file}: commit failed: ${messageOf(e)}`, { cause: e });
      for (const r of requests) r.reject(err);
      // The acked rows are still there and no longer leased: they will be sent again (a duplicate, not a loss).
      for (const id of acks) this.leased.delete(id);
      this.cursor = undefined;
      return;
    }
    this.apply(result);
    for (const id of acks) this.leased.delete(id);
    requests.forEach((r, i) => {
      r.resolve(result.ids[i] ?? []);
    });
    if (requests.length > 0) for (const l of this.listeners) l();
  }

  private setSync(mode: 'FULL' | 'NORMAL'): void {
    if (this.syncMode === mode) return;
    this.db.pragma(`synchronous = ${mode}`);
    this.syncMode = mode;
  }

  /** Inside the transaction: writes only; the in-memory mirrors change in apply() once it committed. */
  private write(requests: EnqueueRequest[], acks: number[]): CommitResult {
    const now = this.clock();
    const res: CommitResult = {
      ids: [],
      seqs: new Map(),
      streamPriority: new Map(),
      queuedDelta: zeros(),
      bytesDelta: zeros(),
      counters: new Map(),
      topPriority: -1,
      raised: false,
    };
    const add = (name: string, n: number) => res.counters.set(name, (res.counters.get(name) ?? 0) + n);
    const seqOf = (stream: string) => res.seqs.get(stream) ?? this.nextSeq.get(stream) ?? 1;
    const priorityOf = (stream: string) => res.streamPriority.get(stream) ?? this.streamPriority.get(stream);

    let enqueued = 0;
    for (const req of requests) {
      const ids: number[] = [];
      for (const m of req.msgs) {
        const previous = priorityOf(m.stream);
        if (previous !== undefined && m.priority > previous) this.raise(m.stream, m.priority, res);
        if (m.priority > res.topPriority) res.topPriority = m.priority;
        const seq = seqOf(m.stream);
        const bytes = m.payload.byteLength + m.topic.length + m.stream.length + ROW_OVERHEAD;
        const expiresAt = m.ttlSec === undefined ? null : now + Math.round(m.ttlSec * 1000);
        const info = this.st.insert.run(
          m.priority,
          m.stream,
          seq,
          m.topic,
          m.contentType ?? null,
          m.payload,
          bytes,
          now,
          expiresAt,
        );
        ids.push(Number(info.lastInsertRowid));
        res.seqs.set(m.stream, seq + 1);
        res.streamPriority.set(m.stream, m.priority);
        res.queuedDelta[m.priority] = (res.queuedDelta[m.priority] ?? 0) + 1;
        res.bytesDelta[m.priority] = (res.bytesDelta[m.priority] ?? 0) + bytes;
        enqueued++;
      }
      res.ids.push(ids);
    }
    for (const [stream, next] of res.seqs) this.st.upsertStream.run(stream, next);
    if (enqueued > 0) add('enqueued', enqueued);

    let acked = 0;
    for (let i = 0; i < acks.length; i += 1000) {
      // Rows evicted or expired while in flight (or acked twice) are simply not there.
      const gone = this.st.deleteMany.all(JSON.stringify(acks.slice(i, i + 1000))) as Array<{
        priority: number;
        bytes: number;
      }>;
      for (const g of gone) {
        acked++;
        res.queuedDelta[g.priority] = (res.queuedDelta[g.priority] ?? 0) - 1;
        res.bytesDelta[g.priority] = (res.bytesDelta[g.priority] ?? 0) - g.bytes;
      }
    }
    if (acked > 0) add('acked', acked);

    this.evictOverCap(res, add);
    for (const [name, n] of res.counters) this.st.addCounter.run(name, n);
    return res;
  }

  /** Priority inheritance: raise a stream's queued messages to `priority` so none is overtaken by a later one. */
  private raise(stream: string, priority: number, res: CommitResult): void {
    const moved = this.st.belowInStream.all(stream, priority) as Array<{ priority: number; n: number; b: number }>;
    if (moved.length === 0) return;
    this.st.raiseStream.run(priority, stream, priority);
    res.raised = true;
    for (const g of moved) {
      res.queuedDelta[g.priority] = (res.queuedDelta[g.priority] ?? 0) - g.n;
      res.bytesDelta[g.priority] = (res.bytesDelta[g.priority] ?? 0) - g.b;
      res.queuedDelta[priority] = (res.queuedDelta[priority] ?? 0) + g.n;
      res.bytesDelta[priority] = (res.bytesDelta[priority] ?? 0) + g.b;
    }
  }

  private evictOverCap(res: CommitResult, add: (name: string, n: number) => void): void {
    let bytes = this.queued.bytes + res.bytesDelta.reduce((a, b) => a + b, 0);
    const cap = this.opts.capBytes;
    for (let p = 0; p < PRIORITIES && bytes > cap; p++) {
      while (bytes > cap) {
        const victims = this.st.oldestAt.all(p, 512) as Array<{ id: number; bytes: number }>;
        if (victims.length === 0) break;
        for (const v of victims) {
          if (bytes <= cap) break;
          this.st.deleteById.run(v.id);
          bytes -= v.bytes;
          res.queuedDelta[p] = (res.queuedDelta[p] ?? 0) - 1;
          res.bytesDelta[p] = (res.bytesDelta[p] ?? 0) - v.bytes;
          add(`evicted.${p}`, 1);
          add('evicted_bytes', v.bytes);
        }
      }
    }
  }

  private apply(res: CommitResult): void {
    this.commits++;
    if (this.cursor && (res.raised || res.topPriority > this.cursor.priority)) this.cursor = undefined;
    for (const [stream, next] of res.seqs) this.nextSeq.set(stream, next);
    for (const [stream, p] of res.streamPriority) this.streamPriority.set(stream, p);
    for (let p = 0; p < PRIORITIES; p++) this.countQueued(p, res.queuedDelta[p] ?? 0, res.bytesDelta[p] ?? 0);
    for (const [name, n] of res.counters) this.bumpTotal(name, n);
    const evicted = [...res.counters].filter(([k]) => k.startsWith('evicted.'));
    if (evicted.length > 0) {
      this.log?.warn(
        { file: this.file, evicted: Object.fromEntries(evicted) },
        'outbox over its cap: evicted messages',
      );
    }
  }

  private countQueued(priority: number, n: number, bytes: number): void {
    this.queued.byPriority[priority] = (this.queued.byPriority[priority] ?? 0) + n;
    this.queued.count += n;
    this.queued.bytes += bytes;
  }

  private bumpTotal(name: string, n: number): void {
    this.totals.set(name, (this.totals.get(name) ?? 0) + n);
  }

  private toMessage(r: Row): OutboxMessage {
    const m: OutboxMessage = {
      id: r.id,
      msgId: `${this.epoch}-${r.id}`,
      stream: r.stream,
      seq: r.seq,
      topic: r.topic,
      payload: r.payload,
      priority: r.priority,
      enqueuedAt: r.enqueued_at,
      bytes: r.bytes,
    };
    if (r.content_type !== null) m.contentType = r.content_type;
    if (r.expires_at !== null) m.expiresAt = r.expires_at;
    return m;
  }
}

interface CommitResult {
  /** Per request, the ids of its messages. */
  ids: number[][];
  seqs: Map<string, number>;
  streamPriority: Map<string, number>;
  queuedDelta: number[];
  bytesDelta: number[];
  counters: Map<string, number>;
  /** Highest priority inserted (-1: none). */
  topPriority: number;
  /** Some stream's queued rows were raised to a higher priority. */
  raised: boolean;
}

function checkInput(m: OutboxInput): void {
  if (!(Number.isInteger(m.priority) && m.priority >= 0 && m.priority < PRIORITIES)) {
    throw invalid(`outbox message for ${m.topic}: priority must be an integer 0..9, got ${String(m.priority)}`);
  }
  if (typeof m.topic !== 'string' || m.topic === '') throw invalid('outbox message: topic must be a non-empty string');
  if (typeof m.stream !== 'string' || m.stream === '') {
    throw invalid(`outbox message for ${m.topic}: stream must be a non-empty string`);
  }
  if (!(m.payload instanceof Uint8Array)) throw invalid(`outbox message for ${m.topic}: payload must be bytes`);
  if (m.ttlSec !== undefined && !(Number.isFinite(m.ttlSec) && m.ttlSec > 0)) {
    throw invalid(`outbox message for ${m.topic}: ttlSec must be a positive number, got ${String(m.ttlSec)}`);
  }
}

function prepare(db: OutboxDb) {
  return {
    insert: db.prepare(
      `INSERT INTO messages (priority, stream, seq, topic, content_type, payload, bytes, enqueued_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    upsertStream: db.prepare(
      'INSERT INTO streams (name, next_seq) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET next_seq = excluded.next_seq',
    ),
    addCounter: db.prepare(
      'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value',
    ),
    ordered: db.prepare('SELECT * FROM messages ORDER BY priority DESC, id ASC LIMIT ?'),
    deleteMany: db.prepare(
      'DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?)) RETURNING priority, bytes',
    ),
    afterInPriority: db.prepare('SELECT * FROM messages WHERE priority = ? AND id > ? ORDER BY id ASC LIMIT ?'),
    belowPriority: db.prepare('SELECT * FROM messages WHERE priority < ? ORDER BY priority DESC, id ASC LIMIT ?'),
    deleteById: db.prepare('DELETE FROM messages WHERE id = ?'),
    oldestAt: db.prepare('SELECT id, bytes FROM messages WHERE priority = ? ORDER BY id ASC LIMIT ?'),
    belowInStream: db.prepare(
      'SELECT priority, count(*) AS n, sum(bytes) AS b FROM messages WHERE stream = ? AND priority < ? GROUP BY priority',
    ),
    raiseStream: db.prepare('UPDATE messages SET priority = ? WHERE stream = ? AND priority < ?'),
    expiredByPriority: db.prepare(
      'SELECT priority, count(*) AS n, sum(bytes) AS b FROM messages WHERE expires_at <= ? GROUP BY priority',
    ),
    deleteExpired: db.prepare('DELETE FROM messages WHERE expires_at <= ?'),
  };
}
