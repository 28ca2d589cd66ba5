import { isGantryError, messageOf } from '../errors.js';
import { decodePayload, isPlainObject } from './payload.js';

/**
 * Commands from the cloud: `cmd/<id>` carries `{name, args?, timeoutSec?}`,
 * the answer goes to `cmd-result/<id>` as `{ok: true, result?}` or
 * `{ok: false, error: {code, message}}`. The handler table comes from the
 * caller (restart-app, logs-tail, diagnostics, resend-state ...).
 *
 * At most once per agent run: a redelivered id (QoS 1 DUP, a persistent
 * session replaying) is not run again; if it already finished its result is
 * published again, since the first result may be what got lost.
 */
export interface CommandContext {
  id: string;
  /** Aborted when the command times out: long handlers should stop. */
  signal: AbortSignal;
}

export type CommandHandler = (args: unknown, ctx: CommandContext) => Promise<unknown> | unknown;
export type CommandHandlers = Readonly<Record<string, CommandHandler>>;

export type CommandErrorCode =
  | 'invalid-request'
  | 'unknown-command'
  | 'timeout'
  | 'failed'
  // A handler's GantryError keeps its kind as the code.
  | 'invalid'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'unavailable'
  | 'denied'
  | 'internal';

export type CommandResult =
  | { ok: true; result?: unknown }
  | { ok: false; error: { code: CommandErrorCode; message: string } };

export interface CommandRunnerOptions {
  handlers: CommandHandlers;
  /** Publish a result (QoS 1); rejects when offline, and the runner keeps it for `flushPending`. */
  publishResult: (id: string, result: CommandResult) => Promise<void>;
  /** Default 30. */
  defaultTimeoutSec?: number;
  /** Requests asking for more are cut to this. Default 600. */
  maxTimeoutSec?: number;
  /** How many finished ids (and their results) are remembered for dedup. Default 512. */
  rememberIds?: number;
  log?: { warn(obj: object, msg: string): void };
}

const MAX_PENDING_RESULTS = 64;

export class CommandRunner {
  private readonly opts: CommandRunnerOptions;
  /** id -> result, or undefined while running. Insertion order = age (for eviction). */
  private readonly seen = new Map<string, CommandResult | undefined>();
  private readonly pending = new Map<string, CommandResult>();

  constructor(opts: CommandRunnerOptions) {
    this.opts = opts;
  }

  /** Handle one `cmd/<id>` message. Resolves once its result is published (or kept for later). */
  async handle(id: string, payload: Uint8Array): Promise<void> {
    if (this.seen.has(id)) {
      const earlier = this.seen.get(id);
      if (earlier !== undefined) await this.send(id, earlier);
      return;
    }
    this.remember(id, undefined);
    const result = await this.run(id, payload);
    this.seen.set(id, result);
    await this.send(id, result);
  }

  /** Results that could not be published (offline); call when the session is back. */
  async flushPending(): Promise<void> {
    for (const [id, result] of [...this.pending]) {
      this.pending.delete(id);
      await this.send(id, result);
    }
  }

  private async run(id: string, payload: Uint8Array): Promise<CommandResult> {
    let request: unknown;
    try {
      request = decodePayload(payload, `command ${id}`);
    } catch (e) {
      return failure('invalid-request', messageOf(e));
    }
    if (!isPlainObject(request) || typeof request.name !== 'string' || request.name === '') {
      return failure('invalid-request', `command ${id} is not a map with a text "name"`);
    }
    const { name, args, timeoutSec } = request;
    if (timeoutSec !== undefined && (typeof timeoutSec !== 'number' || !(timeoutSec > 0))) {
      return failure('invalid-request', `command ${id}: timeoutSec must be a positive number`);
    }
    const handler = Object.hasOwn(this.opts.handlers, name) ? this.opts.handlers[name] : undefined;
    if (handler === undefined) {
      const known = Object.keys(this.opts.handlers).sort().join(', ');
      return failure('unknown-command', `unknown command ${JSON.stringify(name)} (known: ${known || 'none'})`);
    }
    const seconds = Math.min(timeoutSec ?? this.opts.defaultTimeoutSec ?? 30, this.opts.maxTimeoutSec ?? 600);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<CommandResult>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error(`command ${name} timed out`));
        resolve(failure('timeout', `command ${name} did not finish within ${seconds} s`));
      }, seconds * 1000);
    });
    const ran = (async (): Promise<CommandResult> => {
      try {
        const result = await handler(args, { id, signal: controller.signal });
        return result === undefined ? { ok: true } : { ok: true, result };
      } catch (e) {
        return failure(isGantryError(e) ? e.kind : 'failed', messageOf(e));
      }
    })();
    try {
      return await Promise.race([ran, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async send(id: string, result: CommandResult): Promise<void> {
    try {
      await this.opts.publishResult(id, result);
    } catch (e) {
      this.opts.log?.warn({ id, err: messageOf(e) }, 'command result not published; kept until the cloud is back');
      if (this.pending.size >= MAX_PENDING_RESULTS) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      this.pending.set(id, result);
    }
  }

  private remember(id: string, result: CommandResult | undefined): void {
    this.seen.set(id, result);
    const limit = this.opts.rememberIds ?? 512;
    while (this.seen.size > limit) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined || this.seen.get(oldest) === undefined) break; // never forget a running one
      this.seen.delete(oldest);
    }
  }
}

function failure(code: CommandErrorCode, message: string): CommandResult {
  return { ok: false, error: { code, message } };
}
