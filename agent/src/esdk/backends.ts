/**
 * What the eSDK server needs from the rest of the agent, as interfaces, so the
 * server is tested with in-memory fakes and wired to the real services in agent.ts.
 */
import type { Logger } from 'pino';
import type { DeviceGrantRef } from '../deploy/types.js';
import type { Devices } from '../devices/types.js';

/**
 * Where app telemetry goes (telemetry/ rules, then the durable outbox).
 * `publish` resolves only once the samples are committed durably: the app's
 * telemetry.publish is answered after that, so an acknowledged sample is never lost.
 */
export interface TelemetrySink {
  publish(
    app: string,
    stream: string,
    samples: Array<{ value: unknown; ts: number }>,
    opts: { priority?: number },
  ): Promise<void>;
}

export type HeartbeatStatus = 'ok' | 'degraded';

/** The supervisor's view of app-reported liveness (an app-side health signal besides the container's health check). */
export interface HealthSink {
  heartbeat(app: string, status: HeartbeatStatus, detail?: string): void;
}

export interface EsdkBackends {
  devices: Devices;
  telemetry: TelemetrySink;
  health: HealthSink;
  log: Logger;
  /** Reported to clients in hello and app.info. */
  agentVersion: string;
}

/** One app as its eSDK socket serves it: its identity and what its current deployment grants it. */
export interface AppContext {
  app: string;
  /** The deployment revision the grants and config come from. */
  revision?: number;
  grants: DeviceGrantRef[];
  /** Sensor names from the profile the app may read. */
  sensors: string[];
  /** The app's config from the deployment (any JSON), delivered by config.get/config.watch. */
  config: unknown;
}
