/**
 * Grant checks for device calls over the eSDK socket (pure). Every device
 * call of an app goes through one of these before anything reaches devices/;
 * a refusal names the device, the app and what would be needed, because the
 * app developer reads it and the operator fixes the deployment with it.
 */
import type { DeviceGrantRef } from '../deploy/types.js';

/** 'r': read and watch. 'rw': also write (serial write/transact, GPIO output). */
export type Access = 'r' | 'rw';
export type DeviceKind = 'serial port' | 'GPIO line';

export interface Refusal {
  ok: false;
  message: string;
}
export type GrantCheck = { ok: true; grant: DeviceGrantRef } | Refusal;

export interface GrantHolder {
  app: string;
  grants: readonly DeviceGrantRef[];
  sensors: readonly string[];
}

/**
 * May `app` use `device` with `access` through the socket (broker mode)?
 * `op` is the method asking, for the message (e.g. "serial.write").
 */
export function checkDevice(
  holder: GrantHolder,
  kind: DeviceKind,
  device: string,
  access: Access,
  op: string,
): GrantCheck {
  const mine = holder.grants.filter((g) => g.device === device);
  if (mine.length === 0)
    return { ok: false, message: `${kind} ${device} is not granted to app ${holder.app} (${op} refused)` };
  const broker = mine.filter((g) => g.mode === 'broker');
  const enough = broker.find((g) => access === 'r' || g.access === 'rw');
  if (enough) return { ok: true, grant: enough };
  if (broker.length > 0)
    return {
      ok: false,
      message: `app ${holder.app} has read-only access to ${kind} ${device}: ${op} needs access "rw" in the deployment`,
    };
  return {
    ok: false,
    message:
      `${kind} ${device} is granted to app ${holder.app} in passthrough mode: the device node is in the app's ` +
      `container and the app uses it directly, not through the eSDK socket (${op} refused; grant mode "broker" to share it through the agent)`,
  };
}

/** May `app` read sensor `name`? */
export function checkSensor(holder: GrantHolder, name: string, op: string): { ok: true } | Refusal {
  if (holder.sensors.includes(name)) return { ok: true };
  return { ok: false, message: `sensor ${name} is not granted to app ${holder.app} (${op} refused)` };
}
