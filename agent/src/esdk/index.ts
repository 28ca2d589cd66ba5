/**
 * The eSDK: each app's unix socket, speaking the CBOR protocol of
 * sdk/PROTOCOL.md, through which the app reaches the devices, sensors,
 * telemetry and config its deployment grants it.
 */
export type { AppContext, EsdkBackends, HealthSink, HeartbeatStatus, TelemetrySink } from './backends.js';
export { DEFAULT_MAX_FRAME_BYTES, ERROR_CODES, type ErrorCode, PROTOCOL_VERSION } from './frame.js';
export { type EsdkAppStats, EsdkServer, type EsdkServerOptions } from './server.js';
