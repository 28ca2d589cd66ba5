import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canConnect, freePort } from './net.js';
import { type Peer, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';
import { tempDir } from './tmp.js';

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly peer: Peer;
  stop(): Promise<void>;
}

/** A real mosquitto on 127.0.0.1 and a free port; anonymous, no persistence. */
export async function startMosquitto(opts: { extraConfig?: string; startTimeoutMs?: number } = {}): Promise<Mosquitto> {
  const dir = await tempDir('gantry-mosquitto-');
  const port = await freePort();
  const conf = path.join(dir.path, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      opts.extraConfig ?? '',
    ].join('\n'),
  );
  const peer = spawnPeer('mosquitto', ['-c', conf]);
  try {
    await waitFor(
      async () => ((await canConnect(port)) ? true : peer.child.exitCode !== null ? raise(peer) : undefined),
      {
        ms: opts.startTimeoutMs ?? 10_000,
        what: `mosquitto on 127.0.0.1:${port}`,
      },
    );
  } catch (e) {
    await peer.stop();
    await dir.cleanup();
    throw new Error(`mosquitto did not start: ${peer.output()}`, { cause: e });
  }
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    peer,
    async stop() {
      await peer.stop();
      await dir.cleanup();
    },
  };
}

function raise(peer: Peer): never {
  throw new Error(`exited early: ${peer.output()}`);
}
