/**
 * The deployment vocabulary shared by the document validator, the planner and
 * apply. The document's JSON Schema (deployment.schema.json) is the source of
 * truth for what a file may contain; these types mirror it.
 */
import type { HealthCheck, Resources, RestartPolicy, VolumeMount } from '../runtime/types.js';

export interface DeploymentDocument {
  /** Editors' schema hint; ignored by the agent. */
  $schema?: string;
  /** Monotonic: a document with a revision at or below the device's current one is refused. */
  revision: number;
  /** Free text for humans (shown in `gantry deployments`). */
  description?: string;
  apps: Record<string, DeployedApp>;
  rollout?: RolloutPolicy;
}

export interface RolloutPolicy {
  /** Every changed app must be running (and healthy, if it has a check) within this many seconds. Default 60. */
  healthyWithinSec?: number;
  /** Roll the whole revision back to the last good one when it fails. Default true. */
  rollbackOnFailure?: boolean;
}

export type UpdateStrategy = 'stop-then-start' | 'start-then-stop';

export interface DeviceGrantRef {
  /** Logical device name from the firmware profile: a serial port or a GPIO line. */
  device: string;
  access: 'r' | 'rw';
  /** broker: through the eSDK socket (shareable for serial); passthrough: the device node in the container (exclusive). */
  mode: 'broker' | 'passthrough';
}

/**
 * Per-stream telemetry rules, applied at the edge by telemetry/rules.ts (its
 * header has the exact semantics and stage order). Without a rule a stream
 * passes through: one message per sample.
 */
export interface TelemetryRule {
  /**
   * Send only when the value moved by more than this since the last sent value
   * (non-numeric values: when they change). On a windowed stream it applies to
   * the window's mean. It is also the hysteresis of the thresholds: an alert
   * clears only once the value is back by more than this.
   */
  deadband?: number;
  /**
   * Never send two samples of this stream closer than this: the latest sample
   * in between is held and sent when the interval is over. Not used with windowSec.
   */
  minIntervalSec?: number;
  /**
   * Aggregate: every windowSec (aligned on the agent's clock) send
   * {count,numeric,min,max,mean,last,from,to} instead of raw samples.
   * Non-numeric values are counted only.
   */
  windowSec?: number;
  /**
   * A crossing of a threshold is sent at once as an alert with priority 9
   * (and crossing back as a `clear`), whatever deadband, interval or window
   * hold back. Both above and below: a band.
   */
  thresholds?: Array<{ above?: number; below?: number; name?: string }>;
  /** Outbox priority of the stream's ordinary messages (0 lowest .. 9 highest). Default: the app's, else 3. */
  priority?: number;
  /** Drop queued messages older than this when the link stays down (alerts do not expire). */
  ttlSec?: number;
  /** Up to this many samples per message (partial batches go after a short linger). Default 1 (no batching). Not used with windowSec. */
  batch?: number;
}

export interface DeployedApp {
  /** Tag or digest reference; fleet documents pin digests. */
  image: string;
  entrypoint?: string[];
  command?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  resources?: Resources;
  devices?: DeviceGrantRef[];
  /** Sensor names from the profile this app may read. */
  sensors?: string[];
  /** Any JSON: delivered to the app through the SDK (config.get/watch); changing it does not recreate the container. */
  config?: unknown;
  restart?: RestartPolicy;
  healthCheck?: HealthCheck;
  network?: 'none' | 'host';
  readOnlyRootfs?: boolean;
  volumes?: VolumeMount[];
  /** Per stream name. */
  telemetry?: Record<string, TelemetryRule>;
  /** Apps started before this one (and stopped after it). */
  dependsOn?: string[];
  /** Default stop-then-start. */
  update?: UpdateStrategy;
}

/** One container that belongs to a deployment, as the runtime has it now. */
export interface CurrentContainer {
  /** The container name (the app name, or the app name plus a slot suffix during start-then-stop). */
  container: string;
  app: string;
  revision: number;
  /** specHash() of what the container was created from. */
  specHash: string;
  status: 'created' | 'running' | 'paused' | 'stopped' | 'missing';
}

/** Image resolution as the image store has it now: the manifest digest of a local ref, or undefined. */
export type ImageResolver = (ref: string) => string | undefined;

export type Step =
  | { kind: 'pull'; app: string; image: string }
  | { kind: 'create'; app: string; container: string; specHash: string; reason: 'new' | 'changed' | 'missing' }
  | { kind: 'start'; app: string; container: string }
  | { kind: 'stop'; app: string; container: string; reason: 'removed' | 'changed' }
  | { kind: 'remove'; app: string; container: string; reason: 'removed' | 'changed' }
  /**
   * The container stays as it is; only its revision (and config/telemetry rules) move on.
   * Planned only while the container's revision differs from the document's.
   */
  | { kind: 'keep'; app: string; container: string };
