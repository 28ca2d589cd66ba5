import net from 'node:net';
import { errnoCode, failedPrecondition } from '../errors.js';

/**
 * An in-process aedes broker on loopback, for the demo and for a standalone
 * site with no cloud: the agent then talks to itself and local tools
 * (`mosquitto_sub -V mqttv311`) can watch the device's topics.
 *
 * aedes 1.2 speaks MQTT 3.1.1 only (it refuses an MQTT 5 CONNECT with
 * "unacceptable protocol version"), so the session uses protocol 4 against it
 * and payloads carry no content-type property. No persistence: retained
 * messages and sessions live as long as the agent.
 */
export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export const EMBEDDED_BROKER_HOST = '127.0.0.1';
export const DEFAULT_EMBEDDED_PORT = 1883;

/** Start on 127.0.0.1:`port` (0 = a free port the kernel picks). */
export async function startEmbeddedBroker(opts: { port?: number } = {}): Promise<EmbeddedBroker> {
  const requested = opts.port ?? DEFAULT_EMBEDDED_PORT;
  // Loaded only for the embedded broker: a gateway with a cloud broker never needs aedes.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(requested, EMBEDDED_BROKER_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await new Promise<void>((r) => broker.close(() => r()));
    const why = errnoCode(e) === 'EADDRINUSE' ? 'the port is in use (another broker?)' : String(e);
    throw failedPrecondition(`cannot start the embedded MQTT broker on ${EMBEDDED_BROKER_HOST}:${requested}: ${why}`, {
      cause: e,
    });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : requested;
  let stopped: Promise<void> | undefined;
  return {
    host: EMBEDDED_BROKER_HOST,
    port,
    url: `mqtt://${EMBEDDED_BROKER_HOST}:${port}`,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        // server.close() waits for every client to leave; clients of a stopping agent need not.
        for (const s of sockets) s.destroy();
        await closed;
        await new Promise<void>((r) => broker.close(() => r()));
      })();
      return stopped;
    },
  };
}
