import { GantryError } from '../errors.js';

/**
 * Device errors that callers may want to tell apart by class, while keeping
 * the agent's error kinds: the API and the eSDK map them by `kind` like any
 * other GantryError.
 */

/** A port or line is held by another owner (`failed-precondition`). */
export class DeviceBusyError extends GantryError {
  readonly device: string;
  readonly holder: string;
  constructor(device: string, holder: string, message: string) {
    super('failed-precondition', message, { details: { device, holder } });
    this.name = 'DeviceBusyError';
    this.device = device;
    this.holder = holder;
  }
}

/** A device did not answer in time (`unavailable`: retrying may help). */
export class DeviceTimeoutError extends GantryError {
  readonly device: string;
  readonly timeoutMs: number;
  constructor(device: string, timeoutMs: number, message: string) {
    super('unavailable', message, { details: { device, timeoutMs, reason: 'timeout' } });
    this.name = 'DeviceTimeoutError';
    this.device = device;
    this.timeoutMs = timeoutMs;
  }
}
