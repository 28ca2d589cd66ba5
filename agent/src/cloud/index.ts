import { messageOf } from '../errors.js';
import type { BackoffPolicy } from './backoff.js';
import { type CommandHandlers, type CommandResult, CommandRunner } from './commands.js';
import type { ResolvedCloudConfig } from './config.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { type CloudEvent, EventPublisher } from './events.js';
import { type DeploymentSink, DesiredIntake } from './intake.js';
import { encodePayload } from './payload.js';
import { type ReportedSource, Reporter } from './reported.js';
import { CloudSession, type PublishOptions, type SessionLog } from './session.js';
import { classifyIncoming, deviceTopics } from './topics.js';

export type { CommandHandler, CommandHandlers } from './commands.js';
export { CLOUD_CONFIG_SCHEMA, type CloudConfig, type ResolvedCloudConfig, resolveCloudConfig } from './config.js';
export type { CloudEvent } from './events.js';
export type { DeploymentSink } from './intake.js';
export type { AppReport, ReportedSource, ResourceReport } from './reported.js';
export { systemResources } from './system-resources.js';

/**
 * The cloud side of the agent, wired: session + desired-state intake +
 * reported state + commands + events, and the hook the durable outbox drains
 * through. Every dependency is an interface; agent.ts picks the real ones.
 */
export type PublishFn = (topic: string, payload: Uint8Array, opts?: PublishOptions) => Promise<void>;

/** The outbox drainer plugs in here: it publishes while online and pauses when offline. */
export interface OutboxHook {
  onOnline(publish: PublishFn): void;
  onOffline(): void;
}

export interface CloudDeps {
  config: ResolvedCloudConfig;
  deviceId: string;
  /** For the birth message. */
  identity: { agentVersion: string; model: string; arch: string };
  sink: DeploymentSink;
  reported: ReportedSource;
  /** restart-app, logs-tail, diagnostics ...; resend-state is built in unless given. */
  commands?: CommandHandlers;
  outbox?: OutboxHook;
  log?: SessionLog;
  /** Tests: faster retries. */
  backoff?: Partial<BackoffPolicy>;
  reportDebounceMs?: number;
}

export interface Cloud {
  readonly session: CloudSession;
  /** Set when the config asked for an embedded broker. */
  readonly embeddedBroker: EmbeddedBroker | undefined;
  /** Publish an event (oom-kill, crash-loop ...); kept in memory while offline. */
  emitEvent(event: CloudEvent): Promise<void>;
  /** Something reportable changed (an app's state, a deployment): debounced, diffed publish. */
  reportChanged(): void;
  /** Publish the reported state now. */
  publishReported(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCloud(deps: CloudDeps): Promise<Cloud> {
  const { config, log } = deps;
  const topics = deviceTopics(deps.deviceId); // checks the device id before anything starts
  const embeddedBroker =
    config.broker.kind === 'embedded' ? await startEmbeddedBroker({ port: config.broker.port }) : undefined;
  const url = embeddedBroker?.url ?? (config.broker.kind === 'url' ? config.broker.url : '');
  const startedAt = new Date().toISOString();

  const session = new CloudSession({
    url,
    deviceId: deps.deviceId,
    // aedes speaks 3.1.1 only: no need to be refused first.
    protocol: embeddedBroker ? 4 : (config.protocolVersion ?? 'auto'),
    tls: config.tls,
    ...(config.username !== undefined ? { username: config.username } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(config.keepaliveSec !== undefined ? { keepaliveSec: config.keepaliveSec } : {}),
    ...(config.sessionExpirySec !== undefined ? { sessionExpirySec: config.sessionExpirySec } : {}),
    ...(deps.backoff ? { backoff: deps.backoff } : {}),
    ...(log ? { log } : {}),
    birth: () => ({ ...deps.identity, startedAt }),
    subscriptions: [
      { filter: topics.desired, qos: 1 },
      { filter: topics.commandFilter, qos: 1 },
    ],
  });

  const publish: PublishFn = (topic, payload, opts) => session.publish(topic, payload, opts);
  const events = new EventPublisher((event) => publish(topics.events, encodePayload(event), { qos: 1 }));
  const reporter = new Reporter({
    source: deps.reported.deployment
      ? deps.reported
      : {
          ...deps.reported,
          deployment: () => {
            const revision = deps.sink.currentRevision();
            return revision === undefined ? { applying: false } : { revision, applying: false };
          },
        },
    publish: (report) => publish(topics.reported, encodePayload(report), { qos: 1, retain: true }),
    cron: config.reportCron,
    ...(deps.reportDebounceMs !== undefined ? { debounceMs: deps.reportDebounceMs } : {}),
    ...(log ? { log } : {}),
  });
  const intake = new DesiredIntake({
    sink: deps.sink,
    trustedKeys: config.trustedKeys,
    emit: (event) => events.emit(event),
    afterApply: () => reporter.changed(),
    ...(log ? { log } : {}),
  });
  const commands = new CommandRunner({
    handlers: {
      'resend-state': async () => {
        await reporter.publishNow();
        return { resent: true };
      },
      ...deps.commands,
    },
    publishResult: (id, result: CommandResult) => publish(topics.commandResult(id), encodePayload(result), { qos: 1 }),
    ...(log ? { log } : {}),
  });

  session.onMessage((msg) => {
    const kind = classifyIncoming(topics, msg.topic);
    if (kind?.kind === 'desired') void intake.handle(msg.payload);
    else if (kind?.kind === 'command') void commands.handle(kind.id, msg.payload);
    else log?.warn({ topic: msg.topic }, 'message on an unexpected topic ignored');
  });
  session.onOnline(() => {
    void events.flush();
    void commands.flushPending();
    void reporter.publishNow();
    try {
      deps.outbox?.onOnline(publish);
    } catch (e) {
      log?.error({ err: messageOf(e) }, 'outbox onOnline hook threw');
    }
  });
  session.onOffline(() => {
    try {
      deps.outbox?.onOffline();
    } catch (e) {
      log?.error({ err: messageOf(e) }, 'outbox onOffline hook threw');
    }
  });

  reporter.start();
  session.start();

  return {
    session,
    embeddedBroker,
    emitEvent: (event) => events.emit(event),
    reportChanged: () => reporter.changed(),
    publishReported: () => reporter.publishNow(),
    async stop() {
      await reporter.stop();
      await session.stop(); // onOffline reaches the outbox through the session's offline event
      await embeddedBroker?.stop();
    },
  };
}
