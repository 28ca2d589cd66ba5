/** The durable store-and-forward queue and its drain to the broker (see outbox.ts for the guarantees). */
export { Drainer, type DrainerOptions, type DrainerStats, type DrainSource, type PublishFn } from './drainer.js';
export { OutboxLink, type SessionPublish } from './link.js';
export {
  Outbox,
  type OutboxInput,
  type OutboxLog,
  type OutboxMessage,
  type OutboxOptions,
  type OutboxStats,
  type PriorityCounts,
} from './outbox.js';
export { type PublishProperties, publishProperties } from './publish-properties.js';
