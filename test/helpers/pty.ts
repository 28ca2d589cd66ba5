import { access } from 'node:fs/promises';
import path from 'node:path';
import { type Peer, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';
import { tempDir } from './tmp.js';

export interface PtyPair {
  /** Two linked pseudo-terminals: bytes written to one come out of the other. */
  readonly a: string;
  readonly b: string;
  readonly peer: Peer;
  stop(): Promise<void>;
}

/** `socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`: a null-modem cable between two serial ports. */
export async function ptyPair(opts: { startTimeoutMs?: number } = {}): Promise<PtyPair> {
  const dir = await tempDir('gantry-pty-');
  const a = path.join(dir.path, 'ttyA');
  const b = path.join(dir.path, 'ttyB');
  const peer = spawnPeer('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  try {
    await waitFor(
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`socat exited: ${peer.output()}`);
        await access(a);
        await access(b);
        return true;
      },
      { ms: opts.startTimeoutMs ?? 5000, what: 'socat pty links' },
    );
  } catch (e) {
    await peer.stop();
    await dir.cleanup();
    throw e;
  }
  return {
    a,
    b,
    peer,
    async stop() {
      await peer.stop();
      await dir.cleanup();
    },
  };
}
