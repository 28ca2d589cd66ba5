/**
 * The agent's small error taxonomy (after containerd's errdefs): a handful of
 * kinds that callers branch on, each carrying its cause. The API maps kinds to
 * HTTP statuses and the CLI maps them to exit codes, so a new failure only has
 * to pick its kind.
 */
export type ErrorKind =
  | 'invalid' // the caller sent something malformed (bad flag, bad document)
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition' // valid request, wrong state (e.g. data dir locked by another agent)
  | 'unavailable' // a peer or the agent itself cannot be reached; retrying may help
  | 'denied'
  | 'internal';

export class GantryError extends Error {
  readonly kind: ErrorKind;
  /** Extra machine-readable detail (e.g. a list of validation issues). */
  readonly details: unknown;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GantryError';
    this.kind = kind;
    this.details = options?.details;
  }
}

const make =
  (kind: ErrorKind) =>
  (message: string, options?: { cause?: unknown; details?: unknown }): GantryError =>
    new GantryError(kind, message, options);

export const invalid = make('invalid');
export const notFound = make('not-found');
export const alreadyExists = make('already-exists');
export const failedPrecondition = make('failed-precondition');
export const unavailable = make('unavailable');
export const denied = make('denied');
export const internal = make('internal');

export function isGantryError(e: unknown, kind?: ErrorKind): e is GantryError {
  return e instanceof GantryError && (kind === undefined || e.kind === kind);
}

/** Node system errors carry a string `code` (ENOENT, EADDRINUSE...). */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = (e as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
