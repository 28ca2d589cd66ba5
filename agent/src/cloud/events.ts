import { messageOf } from '../errors.js';

/**
 * Messages on `…/events` (docs/mqtt-contract.md, "Events"). Every event has a
 * `type` and an ISO `at`; the ones the cloud module itself emits are typed
 * here, others (oom-kill, crash-loop from the supervisor) come in through
 * `EventPublisher.emit` with their own fields.
 */
export type RejectReason = 'malformed' | 'unknown-key' | 'bad-signature' | 'replay' | 'invalid';

export interface RejectedEvent {
  type: 'rejected';
  reason: RejectReason;
  kid?: string;
  revision?: number;
  detail: string;
  at: string;
}

export type DeploymentOutcome = 'applied' | 'rolled-back' | 'failed' | 'refused';

export interface DeploymentEvent {
  type: 'deployment';
  revision: number;
  outcome: DeploymentOutcome;
  reasons: string[];
  source: 'cloud';
  kid: string;
  at: string;
}

export type CloudEvent = RejectedEvent | DeploymentEvent | ({ type: string; at: string } & Record<string, unknown>);

/**
 * Sends events, keeping the ones that could not be sent (offline) in a small
 * in-memory queue flushed when the session is back: the outcome of a long
 * deployment must not be lost because the link dropped while it ran. Bounded:
 * past `capacity` the oldest are dropped and counted. (Events that must
 * survive an agent restart belong in the durable outbox; pass its enqueue as
 * `publish` and the queue here stays empty.)
 */
export class EventPublisher {
  private readonly publish: (event: CloudEvent) => Promise<void>;
  private readonly capacity: number;
  private readonly queue: CloudEvent[] = [];
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(publish: (event: CloudEvent) => Promise<void>, capacity = 256) {
    this.publish = publish;
    this.capacity = capacity;
  }

  /** Queue an event and try to send it (and anything queued before it) now. */
  async emit(event: CloudEvent): Promise<void> {
    this.queue.push(event);
    if (this.queue.length > this.capacity) {
      this.queue.shift();
      this.dropped += 1;
    }
    await this.flush();
  }

  /** Send queued events in order; stops at the first failure (they stay queued). */
  flush(): Promise<void> {
    if (this.flushing === undefined) {
      // Assigned before the loop can finish: a loop that ends at once must still clear it.
      let done!: () => void;
      this.flushing = new Promise<void>((resolve) => {
        done = resolve;
      });
      void this.drain().finally(() => {
        this.flushing = undefined;
        done();
      });
    }
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const next = this.queue[0] as CloudEvent;
      try {
        await this.publish(next);
      } catch (e) {
        this.lastError = messageOf(e);
        return;
      }
      this.queue.shift();
    }
  }

  get queued(): number {
    return this.queue.length;
  }

  lastError: string | undefined;
}

export function nowIso(): string {
  return new Date().toISOString();
}
