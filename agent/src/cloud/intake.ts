import { createHash, type KeyObject } from 'node:crypto';
import { isGantryError, messageOf } from '../errors.js';
import { EnvelopeError, verifyEnvelope } from './envelope.js';
import { type CloudEvent, type DeploymentOutcome, nowIso, type RejectReason } from './events.js';
import { isPlainObject } from './payload.js';

/**
 * Desired-state intake: a retained `…/desired` message -> verified envelope ->
 * replay check -> the deployment sink -> an event with the outcome.
 *
 * Replay rules (docs/mqtt-contract.md, "Desired state"):
 * - the signature is checked first; nothing in an unverified document is read;
 * - revision equal to the device's current revision, or to the last revision
 *   handed to the sink in this run, is a no-op: the broker re-sends the
 *   retained desired on every (re)subscription, and a failed revision is not
 *   retried by re-delivery (the cloud publishes a new revision instead);
 *   the same revision with different signed bytes is refused as a replay;
 * - a lower revision is a replay: refused with a `rejected` event;
 * - refused means nothing is handed to the sink.
 * Messages are handled one at a time, in arrival order.
 */
export interface DeploymentSink {
  /**
   * The revision the device runs (or last attempted and rolled back from: a
   * revision once tried must not come back as new after a restart), or
   * undefined when nothing was ever deployed.
   */
  currentRevision(): number | undefined;
  /** Validates (throws a GantryError of kind 'invalid' for an invalid document), admits and applies. */
  apply(doc: unknown, source: 'cloud'): Promise<{ revision: number; outcome: DeploymentOutcome; reasons: string[] }>;
}

export type IntakeResult =
  | { kind: 'ignored'; why: string }
  | { kind: 'rejected'; reason: RejectReason; detail: string }
  | { kind: 'handled'; revision: number; outcome: DeploymentOutcome };

export interface IntakeOptions {
  sink: DeploymentSink;
  trustedKeys: ReadonlyMap<string, KeyObject>;
  emit: (event: CloudEvent) => Promise<void>;
  /** Called after the sink answered (the reported state has changed). */
  afterApply?: () => void;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export class DesiredIntake {
  private readonly opts: IntakeOptions;
  private chain: Promise<unknown> = Promise.resolve();
  /** Highest revision handed to the sink in this run, and the sha256 of its signed bytes. */
  private handled: { revision: number; digest: string } | undefined;

  constructor(opts: IntakeOptions) {
    this.opts = opts;
  }

  /**
   * Queue one desired message; resolves with what became of it. Messages are
   * checked one at a time, but the next one does not wait for an apply to
   * finish (its health window, a rollback): once the sink has taken a
   * document, a newer one may supersede it mid-apply.
   */
  handle(payload: Uint8Array): Promise<IntakeResult> {
    let taken: () => void = () => undefined;
    const handedOver = new Promise<void>((resolve) => {
      taken = resolve;
    });
    const next = this.chain.then(() => this.process(payload, taken));
    this.chain = Promise.race([handedOver, next]).catch(() => {});
    return next;
  }

  private async process(payload: Uint8Array, taken: () => void): Promise<IntakeResult> {
    // A zero-length retained publish is how the cloud clears the retained desired: nothing to apply.
    if (payload.byteLength === 0) return { kind: 'ignored', why: 'retained desired cleared' };

    let verified: ReturnType<typeof verifyEnvelope>;
    try {
      verified = verifyEnvelope(payload, this.opts.trustedKeys);
    } catch (e) {
      if (e instanceof EnvelopeError) return this.reject(e.reason, e.message, { kid: e.kid });
      throw e;
    }
    const { doc, kid, docBytes } = verified;
    const revision = isPlainObject(doc) ? doc.revision : undefined;
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
      return this.reject('invalid', 'deployment document has no non-negative integer "revision"', { kid });
    }
    const digest = createHash('sha256').update(docBytes).digest('hex');
    const current = this.opts.sink.currentRevision();
    const handled = this.handled;
    if (handled !== undefined && revision === handled.revision) {
      if (digest === handled.digest) return { kind: 'ignored', why: `revision ${revision} already handled` };
      return this.reject('replay', `revision ${revision} was already handled with different content`, {
        kid,
        revision,
      });
    }
    if (handled === undefined && revision === current) {
      return { kind: 'ignored', why: `revision ${revision} is the current revision` };
    }
    const floor = Math.max(current ?? -1, handled?.revision ?? -1);
    if (revision < floor) {
      return this.reject('replay', `revision ${revision} is older than revision ${floor} on the device`, {
        kid,
        revision,
      });
    }

    this.handled = { revision, digest };
    this.opts.log?.info({ revision, kid }, 'applying deployment from the cloud');
    let outcome: { revision: number; outcome: DeploymentOutcome; reasons: string[] };
    try {
      // The sink validates and accepts the document synchronously when called; only the apply itself is awaited.
      const applying = this.opts.sink.apply(doc, 'cloud');
      taken();
      outcome = await applying;
    } catch (e) {
      if (isGantryError(e, 'invalid')) {
        return this.reject('invalid', e.message, { kid, revision });
      }
      outcome = { revision, outcome: 'failed', reasons: [messageOf(e)] };
    }
    this.opts.afterApply?.();
    await this.send({
      type: 'deployment',
      revision: outcome.revision,
      outcome: outcome.outcome,
      reasons: outcome.reasons,
      source: 'cloud',
      kid,
      at: nowIso(),
    });
    return { kind: 'handled', revision: outcome.revision, outcome: outcome.outcome };
  }

  private async reject(
    reason: RejectReason,
    detail: string,
    extra: { kid?: string | undefined; revision?: number },
  ): Promise<IntakeResult> {
    this.opts.log?.warn({ reason, detail, ...extra }, 'refused a desired state from the cloud');
    await this.send({
      type: 'rejected',
      reason,
      ...(extra.kid !== undefined ? { kid: extra.kid } : {}),
      ...(extra.revision !== undefined ? { revision: extra.revision } : {}),
      detail,
      at: nowIso(),
    });
    return { kind: 'rejected', reason, detail };
  }

  private async send(event: CloudEvent): Promise<void> {
    try {
      await this.opts.emit(event);
    } catch (e) {
      this.opts.log?.warn({ err: messageOf(e), type: event.type }, 'could not publish a cloud event');
    }
  }
}
