/**
 * Errors of the SDK. Every error has a `code`: the agent's error code for a
 * refused request (PROTOCOL.md, "Error codes"), or `connection` / `protocol`
 * for trouble on the SDK's side. Catch the class you can act on:
 *
 * ```ts
 * try { await client.gpio.write('do-1', 1); }
 * catch (e) { if (e instanceof DeniedError) console.error('not granted:', e.message); else throw e; }
 * ```
 */

/** The agent's error codes, and the SDK's own two. */
export type ErrorCode =
  | 'bad-request'
  | 'unknown-method'
  | 'denied'
  | 'not-found'
  | 'busy'
  | 'timeout'
  | 'unavailable'
  | 'too-large'
  | 'internal'
  | 'connection'
  | 'protocol';

/** Options of every error class: detail from the agent, and the underlying error. */
export interface ErrorOptions {
  data?: unknown;
  cause?: unknown;
}

/** Base class of every error the SDK throws. */
export class GantryError extends Error {
  /** What kind of failure this is; stable, for programs to branch on. */
  readonly code: ErrorCode;
  /** Extra machine-readable detail the agent attached, if any. */
  readonly data: unknown;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = options?.data;
  }
}

/** The request was malformed (a bug in the caller or the SDK): code `bad-request`. */
export class BadRequestError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('bad-request', message, options);
  }
}
/** The agent does not know the method (an older agent): code `unknown-method`. */
export class UnknownMethodError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('unknown-method', message, options);
  }
}
/** The app's deployment does not grant the device, sensor or access: code `denied`. */
export class DeniedError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('denied', message, options);
  }
}
/** No such device, sensor, serial handle or subscription: code `not-found`. */
export class NotFoundError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('not-found', message, options);
  }
}
/** The device is held by another app: code `busy`. */
export class BusyError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('busy', message, options);
  }
}
/** The device did not answer in time, or the agent did not answer the request in time: code `timeout`. */
export class TimeoutError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('timeout', message, options);
  }
}
/** The device or an agent service cannot serve now; retrying may help: code `unavailable`. */
export class UnavailableError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('unavailable', message, options);
  }
}
/** A frame over the size limit: code `too-large`. */
export class TooLargeError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('too-large', message, options);
  }
}
/** A bug in the agent: code `internal`. */
export class InternalError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('internal', message, options);
  }
}
/** The connection to the agent is down or was lost (the request may or may not have been carried out): code `connection`. */
export class ConnectionError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('connection', message, options);
  }
}
/** The agent sent something the SDK cannot understand, or refused the protocol version: code `protocol`. */
export class ProtocolError extends GantryError {
  constructor(message: string, options?: ErrorOptions) {
    super('protocol', message, options);
  }
}

type ErrorClass = new (message: string, options?: ErrorOptions) => GantryError;
const BY_CODE: Record<string, ErrorClass> = {
  'bad-request': BadRequestError,
  'unknown-method': UnknownMethodError,
  denied: DeniedError,
  'not-found': NotFoundError,
  busy: BusyError,
  timeout: TimeoutError,
  unavailable: UnavailableError,
  'too-large': TooLargeError,
  internal: InternalError,
};

/** The error object of an error response (`{code, message, data?}`) as the matching error class. */
export function errorFromWire(wire: unknown): GantryError {
  if (typeof wire !== 'object' || wire === null)
    return new ProtocolError('the agent sent an error response without an error map');
  const { code, message, data } = wire as { code?: unknown; message?: unknown; data?: unknown };
  const text = typeof message === 'string' ? message : 'no message';
  const cls = typeof code === 'string' && Object.hasOwn(BY_CODE, code) ? BY_CODE[code] : undefined;
  if (cls === undefined) return new ProtocolError(`unknown error code ${String(code)}: ${text}`, { data });
  return new cls(text, { data });
}
