/**
 * The eSDK server: one unix socket per app, at a path the caller chooses (the
 * agent uses DATA/apps/<app>/esdk.sock; that directory, and only it, is
 * bind-mounted into the app's container at /run/gantry).
 *
 * The socket is the app's identity: whoever connects to an app's socket acts
 * as that app, with that app's grants. So the socket file is mode 0666 — the
 * container may run as any uid, and it must be able to connect — and access
 * is controlled by where the file is: the per-app directory is mounted into
 * that app's container alone, and on the host it lies under the agent's data
 * dir, which only root can traverse.
 */
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errnoCode, failedPrecondition, invalid, messageOf } from '../errors.js';
import type { AppContext, EsdkBackends } from './backends.js';
import { Connection, type ConnectionLimits } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES } from './frame.js';
import { METHODS } from './methods.js';
import { Session } from './session.js';

export interface EsdkServerOptions {
  /** Where app `app`'s socket goes. */
  socketPath(app: string): string;
  /** Largest frame body accepted or sent. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Unsent bytes per connection above which reading pauses and events are dropped. Default 256 KiB. */
  highWaterBytes?: number;
  /** Requests served at once per connection before reading pauses. Default 64. */
  maxInFlight?: number;
  /** Connections one app may hold at once; more are refused (each may buffer a frame). Default 16. */
  maxConnectionsPerApp?: number;
  /** A frame begun must be complete within this long. Default 10 s. */
  frameDeadlineMs?: number;
}

export interface EsdkAppStats {
  connections: number;
  /** Subscription events dropped for clients that read too slowly, since the app's socket opened. */
  droppedEvents: number;
}

interface AppEntry {
  ctx: AppContext;
  readonly socketPath: string;
  readonly server: net.Server;
  readonly connections: Set<Connection>;
  /** Events dropped by connections already closed. */
  droppedBefore: number;
}

export class EsdkServer {
  private readonly apps = new Map<string, AppEntry>();
  /** Closes in progress: a reopen of the app waits for them, so the old close cannot remove the new socket. */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly limits: ConnectionLimits;

  constructor(
    private readonly backends: EsdkBackends,
    private readonly opts: EsdkServerOptions,
  ) {
    this.limits = {
      maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      highWaterBytes: opts.highWaterBytes ?? 256 * 1024,
      maxInFlight: opts.maxInFlight ?? 64,
      frameDeadlineMs: opts.frameDeadlineMs ?? 10_000,
    };
  }

  /** Start serving `ctx.app` on its socket, replacing a stale socket file. Already open: same as update. */
  async open(ctx: AppContext): Promise<void> {
    await this.closing.get(ctx.app);
    if (this.apps.has(ctx.app)) return this.update(ctx.app, ctx);
    const socketPath = this.opts.socketPath(ctx.app);
    // Half-open: a client may send its requests, shut down its side, and still read the answers.
    const server = net.createServer({ allowHalfOpen: true });
    const entry: AppEntry = { ctx, socketPath, server, connections: new Set(), droppedBefore: 0 };
    this.apps.set(ctx.app, entry);
    try {
      await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
      await removeStaleSocket(socketPath);
      server.on('connection', (socket) => this.accept(entry, socket));
      // After listen: an accept error (EMFILE...) is logged, never thrown into the agent.
      server.on('error', (e) => this.backends.log.error({ err: e, app: ctx.app }, 'esdk server error'));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // Any uid in the container may connect: see the header comment.
      await chmod(socketPath, 0o666);
    } catch (e) {
      if (this.apps.get(ctx.app) === entry) this.apps.delete(ctx.app);
      server.close();
      throw failedPrecondition(`cannot serve the eSDK socket of app ${ctx.app} at ${socketPath}: ${messageOf(e)}`, {
        cause: e,
      });
    }
    this.backends.log.debug({ app: ctx.app, socketPath }, 'esdk socket open');
  }

  /**
   * The app was redeployed: new grants and config apply to the next call of
   * every connection; what the new grants no longer allow is closed (its
   * subscriptions end with `denied`), and config watchers get a changed config.
   */
  async update(app: string, ctx: AppContext): Promise<void> {
    if (ctx.app !== app) throw invalid(`esdk update of app ${app} with the context of app ${ctx.app}`);
    const entry = this.apps.get(app);
    if (!entry) throw failedPrecondition(`the eSDK socket of app ${app} is not open`);
    const previous = entry.ctx;
    entry.ctx = ctx;
    await Promise.all([...entry.connections].map((c) => c.session.revise(previous)));
  }

  /** Stop serving the app: close its connections (releasing what they hold), remove the socket, release its devices. */
  async close(app: string): Promise<void> {
    const entry = this.apps.get(app);
    if (!entry) return this.closing.get(app);
    this.apps.delete(app);
    const done = this.shutDown(app, entry).finally(() => {
      if (this.closing.get(app) === done) this.closing.delete(app);
    });
    this.closing.set(app, done);
    return done;
  }

  private async shutDown(app: string, entry: AppEntry): Promise<void> {
    const stopped = new Promise<void>((resolve) => entry.server.close(() => resolve()));
    await Promise.all([...entry.connections].map((c) => c.destroy()));
    await stopped;
    await rm(entry.socketPath, { force: true }).catch((e: unknown) =>
      this.backends.log.warn({ err: e, app }, 'esdk: removing the socket file failed'),
    );
    await this.backends.devices
      .release(app)
      .catch((e: unknown) => this.backends.log.warn({ err: e, app }, 'esdk: releasing the devices of the app failed'));
    this.backends.log.debug({ app }, 'esdk socket closed');
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.apps.keys()].map((app) => this.close(app)));
  }

  /** The apps being served. */
  openApps(): string[] {
    return [...this.apps.keys()];
  }

  stats(app: string): EsdkAppStats | undefined {
    const entry = this.apps.get(app);
    if (!entry) return undefined;
    let dropped = entry.droppedBefore;
    for (const c of entry.connections) dropped += c.session.droppedEvents;
    return { connections: entry.connections.size, droppedEvents: dropped };
  }

  private accept(entry: AppEntry, socket: net.Socket): void {
    if (this.apps.get(entry.ctx.app) !== entry) {
      socket.destroy();
      return;
    }
    // Bounded: each connection may hold up to a frame in memory and a file descriptor.
    if (entry.connections.size >= (this.opts.maxConnectionsPerApp ?? 16)) {
      this.backends.log.warn(
        { app: entry.ctx.app, open: entry.connections.size },
        'esdk: too many connections; refused',
      );
      socket.destroy();
      return;
    }
    const conn = new Connection(
      socket,
      (out) => new Session(entry, this.backends, out, METHODS),
      this.limits,
      this.backends.log,
    );
    entry.connections.add(conn);
    void conn.closed.then(() => {
      entry.connections.delete(conn);
      entry.droppedBefore += conn.session.droppedEvents;
    });
  }
}

/** A socket file left by an earlier agent is removed; anything else at the path is not ours to delete. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  try {
    const st = await lstat(socketPath);
    if (!st.isSocket()) throw failedPrecondition(`${socketPath} exists and is not a socket; not replacing it`);
    await rm(socketPath, { force: true });
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }
}
