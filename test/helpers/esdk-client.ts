/**
 * A bare eSDK client for tests: raw frames over the socket, no SDK logic, so
 * the server is tested as a C or Python client would see it.
 */
import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../agent/src/esdk/frame.js';
import { waitFor, withTimeout } from './timeout.js';

export type AnyFrame = Record<string, unknown>;

export class RawClient {
  readonly frames: AnyFrame[] = [];
  readonly closed: Promise<void>;
  private nextId = 1;
  private readonly decoder = new FrameDecoder(8 << 20);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, (item) => this.frames.push(item as AnyFrame)));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(path: string): Promise<RawClient> {
    const socket = await withTimeout(
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(path, () => resolve(s));
        s.once('error', reject);
      }),
      5_000,
      `connect to ${path}`,
    );
    return new RawClient(socket);
  }

  send(message: unknown): void {
    this.socket.write(encodeFrame(message));
  }

  /** Send a request and wait for its response frame. */
  async request(method: string, params?: Record<string, unknown>, ms = 5_000): Promise<AnyFrame> {
    const id = this.nextId++;
    this.send(params === undefined ? { id, method } : { id, method, params });
    return this.next((f) => f.id === id, ms, `response to ${method}`);
  }

  /** The result of a request that must succeed. */
  async ok<T = AnyFrame>(method: string, params?: Record<string, unknown>): Promise<T> {
    const r = await this.request(method, params);
    if ('error' in r) throw new Error(`${method} failed: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  /** The first received frame matching `pred` (taken out of `frames`). */
  async next(pred: (f: AnyFrame) => boolean, ms = 5_000, what = 'a frame'): Promise<AnyFrame> {
    return waitFor(
      () => {
        const i = this.frames.findIndex(pred);
        return i < 0 ? undefined : this.frames.splice(i, 1)[0];
      },
      { ms, what, intervalMs: 2 },
    );
  }

  close(): Promise<void> {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 500).unref();
    return this.closed;
  }
}
