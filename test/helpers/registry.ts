import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './net.js';
import { type Peer, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';
import { tempDir } from './tmp.js';

export interface Registry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly peer: Peer;
  stop(): Promise<void>;
}

/** The Debian `docker-registry` (CNCF distribution), plain HTTP on loopback, storage in a temp dir. */
export async function startRegistry(opts: { startTimeoutMs?: number } = {}): Promise<Registry> {
  const dir = await tempDir('gantry-registry-');
  const port = await freePort();
  const conf = path.join(dir.path, 'config.yml');
  await writeFile(
    conf,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir.path, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const peer = spawnPeer('docker-registry', ['serve', conf]);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`exited early: ${peer.output()}`);
        const res = await fetch(`${url}/v2/`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      { ms: opts.startTimeoutMs ?? 15_000, what: `docker-registry on ${url}` },
    );
  } catch (e) {
    await peer.stop();
    await dir.cleanup();
    throw new Error(`docker-registry did not start: ${peer.output()}`, { cause: e });
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    peer,
    async stop() {
      await peer.stop();
      await dir.cleanup();
    },
  };
}
