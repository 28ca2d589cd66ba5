/**
 * @gantry/sdk — the in-container client of the agent's eSDK socket.
 *
 * The agent bind-mounts the app's own socket at this path and also passes it
 * in the environment, so an app finds it without configuration.
 */
export const ESDK_SOCKET_ENV = 'GANTRY_ESDK_SOCKET';
export const DEFAULT_ESDK_SOCKET = '/run/gantry/esdk.sock';

/** Where this app's eSDK socket is: `$GANTRY_ESDK_SOCKET`, else the standard mount point. */
export function esdkSocketPath(env: Record<string, string | undefined> = process.env): string {
  return env[ESDK_SOCKET_ENV] ?? DEFAULT_ESDK_SOCKET;
}
