import { randomUUID } from 'node:crypto';
import { type Peer, run, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';

/**
 * mosquitto_sub / mosquitto_pub as an independent MQTT 5 client: what the
 * agent publishes is checked by a client that shares no code with it.
 */
export interface SeenMessage {
  topic: string;
  payload: Buffer;
  retained: boolean;
  contentType: string;
}

export interface CliSubscriber {
  readonly messages: SeenMessage[];
  /** Wait until a message matching `match` arrives (or was already seen); returns it. */
  next(match: (m: SeenMessage) => boolean, what: string, ms?: number): Promise<SeenMessage>;
  stop(): Promise<void>;
}

/** `mosquitto_sub -V mqttv5` on the filters; resolves once the subscription demonstrably works. */
export async function cliSubscriber(
  port: number,
  filters: string[],
  opts: { protocol?: 'mqttv5' | 'mqttv311' } = {},
): Promise<CliSubscriber> {
  const probe = `gantry-test-probe/${randomUUID()}`;
  const args = ['-h', '127.0.0.1', '-p', String(port), '-V', opts.protocol ?? 'mqttv5', '-q', '1', '-F', '%r|%C|%t|%x'];
  for (const f of [...filters, probe]) args.push('-t', f);
  const peer: Peer = spawnPeer('mosquitto_sub', args);
  const messages: SeenMessage[] = [];
  let probed = false;
  let buffered = '';
  peer.child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const [retained, contentType, topic, hex] = line.split('|');
      if (topic === undefined || hex === undefined) continue;
      if (topic === probe) {
        probed = true;
        continue;
      }
      messages.push({
        topic,
        payload: Buffer.from(hex, 'hex'),
        retained: retained === '1',
        contentType: contentType ?? '',
      });
    }
  });
  const next = (match: (m: SeenMessage) => boolean, what: string, ms = 10_000) =>
    waitFor(
      () => {
        if (peer.child.exitCode !== null) throw new Error(`mosquitto_sub exited: ${peer.output()}`);
        return messages.find(match);
      },
      { ms, what },
    );
  try {
    await waitFor(
      async () => {
        await cliPublish(port, probe, 'probe', { qos: 0 });
        await new Promise((r) => setTimeout(r, 100));
        return probed ? true : undefined;
      },
      { ms: 10_000, what: `mosquitto_sub on ${filters.join(', ')} to be subscribed`, intervalMs: 50 },
    );
  } catch (e) {
    await peer.stop();
    throw e;
  }
  return {
    messages,
    next,
    async stop() {
      await peer.stop();
    },
  };
}

/** One `mosquitto_pub -V mqttv5` of bytes (through a file: payloads are binary CBOR). */
export async function cliPublish(
  port: number,
  topic: string,
  /** Text is sent with -m; binary payloads go through a file (-f). */
  payload: string | { file: string },
  opts: { qos?: 0 | 1; retain?: boolean; contentType?: string } = {},
): Promise<void> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-q', String(opts.qos ?? 1), '-t', topic];
  if (opts.retain) args.push('-r');
  if (opts.contentType) args.push('-D', 'publish', 'content-type', opts.contentType);
  if (typeof payload === 'string') args.push('-m', payload);
  else args.push('-f', payload.file);
  const r = await run('mosquitto_pub', args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`mosquitto_pub ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
}
