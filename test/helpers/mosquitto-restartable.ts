import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './net.js';
import { type Peer, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';
import { type TempDir, tempDir } from './tmp.js';

/**
 * A real mosquitto on 127.0.0.1 that a test can stop and start again on the
 * same port (broker outages). With persistence on, a subscriber's persistent
 * session and its queued QoS 1 messages survive a clean stop (SIGTERM makes
 * mosquitto write its store), so an independent subscriber misses nothing
 * that the broker acknowledged; the queue per client is unbounded.
 */
export interface RestartableMosquitto {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** SIGTERM and wait for the exit (the store is written). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop for good and remove the config and store. */
  close(): Promise<void>;
  output(): string;
}

export async function startRestartableMosquitto(opts: { extraConfig?: string } = {}): Promise<RestartableMosquitto> {
  const dir: TempDir = await tempDir('gantry-mosquitto-r-');
  const port = await freePort();
  const conf = path.join(dir.path, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir.path}/`,
      'max_queued_messages 0',
      // Started as root, mosquitto drops to user "mosquitto" and then cannot write its store in our private dir.
      `user ${os.userInfo().username}`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      opts.extraConfig ?? '',
    ].join('\n'),
  );
  let peer: Peer | undefined;
  let log = '';

  async function start(): Promise<void> {
    if (peer) return;
    const p = spawnPeer('mosquitto', ['-c', conf]);
    peer = p;
    try {
      await waitFor(
        async () => {
          if (await canConnect(port)) return true;
          if (p.child.exitCode !== null) throw new Error(`mosquitto exited: ${p.output()}`);
          return undefined;
        },
        { ms: 10_000, what: `mosquitto on 127.0.0.1:${port}` },
      );
    } catch (e) {
      peer = undefined;
      await p.stop();
      throw e;
    }
  }

  async function stop(): Promise<void> {
    const p = peer;
    if (!p) return;
    peer = undefined;
    await p.stop();
    log += p.output();
  }

  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get running() {
      return peer !== undefined;
    },
    start,
    stop,
    async close() {
      await stop();
      await dir.cleanup();
    },
    output: () => log + (peer?.output() ?? ''),
  };
}
