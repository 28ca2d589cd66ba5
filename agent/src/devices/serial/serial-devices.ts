import type { Logger } from 'pino';
import type { SerialPortSpec } from '../../config/profile-types.js';
import { failedPrecondition, invalid, messageOf, notFound, unavailable } from '../../errors.js';
import { DeviceBusyError } from '../errors.js';
import type { Framing, SerialDevices, SerialOpenOptions, SerialSession, SerialSharing } from '../types.js';
import { validateFraming } from './framing.js';
import type { LineSettings, OpenSerialLink } from './link.js';
import { OpenPort, type PortUser } from './open-port.js';

/** Longest a caller may wait for one frame: beyond this a stuck app holds a shared bus for too long. */
export const MAX_SERIAL_TIMEOUT_MS = 60_000;

/**
 * Applies a port's RS-485 settings (RTS on send, delays...) once it is open.
 * The `serialport` bindings cannot: they have no TIOCSRS485 ioctl. On real
 * gateways the kernel's boot-time setting (device tree
 * `linux,rs485-enabled-at-boot-time`, `rs485-rts-delay`) is what holds, or a
 * platform can pass its own configurator here.
 */
export type Rs485Configurator = (port: { name: string; path: string; spec: SerialPortSpec }) => Promise<void>;

export interface SerialDevicesOptions {
  ports: SerialPortSpec[];
  openLink: OpenSerialLink;
  log: Logger;
  /** Where a logical port really lives (the laptop simulator points ports at pty links). */
  pathOf?: (name: string) => string;
  configureRs485?: Rs485Configurator;
}

export interface SerialRegistry extends SerialDevices {
  release(owner: string): Promise<void>;
  close(): Promise<void>;
}

const RAW: Framing = { kind: 'raw' };

export function createSerialDevices(opts: SerialDevicesOptions): SerialRegistry {
  const specs = new Map(opts.ports.map((p) => [p.name, p]));
  const ports = new Map<string, OpenPort>();
  const sessions = new Set<Session>();

  async function closeSession(session: Session): Promise<void> {
    sessions.delete(session);
    const port = session.openPort;
    port.removeUser(
      session,
      failedPrecondition(`serial port ${port.name}: the session of ${session.owner} was closed`),
    );
    if (port.users.size === 0) {
      if (ports.get(port.name) === port) ports.delete(port.name);
      await port.close();
    }
  }

  return {
    list: () => opts.ports.map((p) => ({ name: p.name, kind: p.kind, baudRates: [...p.baudRates] })),

    async open(name, owner, sharing, openOpts = {}) {
      const spec = specs.get(name);
      if (!spec) {
        const known = [...specs.keys()].join(', ') || 'none';
        throw notFound(`serial port ${name} is not in the firmware profile (known: ${known})`);
      }
      if (sharing !== 'exclusive' && sharing !== 'broker') {
        throw invalid(`serial port ${name}: sharing must be 'exclusive' or 'broker', got ${JSON.stringify(sharing)}`);
      }
      const settings = lineSettings(spec, openOpts);
      const framing = openOpts.framing ?? RAW;
      validateFraming(framing);

      let port = ports.get(name);
      if (port) {
        admit(port, owner, sharing, settings);
      } else {
        const path = opts.pathOf?.(name) ?? spec.path;
        port = new OpenPort(name, path, sharing, settings, framing);
        ports.set(name, port);
        const created = port;
        created.ready = openPort(created, spec, opts, () => {
          // Gone by itself: forget it so the next open starts afresh.
          if (ports.get(name) === created) ports.delete(name);
        }).catch((e: unknown) => {
          if (ports.get(name) === created) ports.delete(name);
          throw e;
        });
      }
      const session = new Session(port, owner, sharing, framing, closeSession);
      // Taken before the await, so a concurrent open sees this holder.
      port.users.add(session);
      try {
        await port.ready;
      } catch (e) {
        port.users.delete(session);
        throw e;
      }
      sessions.add(session);
      return session;
    },

    async release(owner) {
      await Promise.all([...sessions].filter((s) => s.owner === owner).map((s) => s.close()));
    },

    async close() {
      await Promise.all([...sessions].map((s) => s.close()));
      await Promise.all([...ports.values()].map((p) => p.close()));
      ports.clear();
    },
  };
}

async function openPort(
  port: OpenPort,
  spec: SerialPortSpec,
  opts: SerialDevicesOptions,
  onLost: () => void,
): Promise<void> {
  let link: Awaited<ReturnType<OpenSerialLink>>;
  try {
    link = await opts.openLink(port.path, port.settings);
  } catch (e) {
    throw unavailable(`serial port ${port.name} (${port.path}) could not be opened: ${messageOf(e)}`, { cause: e });
  }
  port.attach(link, (e) => {
    opts.log.warn({ port: port.name, path: port.path, err: messageOf(e) }, 'serial port went away');
    onLost();
  });
  if (spec.kind === 'rs485') await applyRs485(port, spec, opts);
  opts.log.debug({ port: port.name, path: port.path, sharing: port.sharing, ...port.settings }, 'serial port open');
}

async function applyRs485(port: OpenPort, spec: SerialPortSpec, opts: SerialDevicesOptions): Promise<void> {
  if (!opts.configureRs485) {
    opts.log.info(
      { port: port.name, rs485: spec.rs485 ?? {} },
      'RS-485 settings not applied from Node (serialport has no TIOCSRS485); the kernel boot-time RS-485 mode applies',
    );
    return;
  }
  try {
    await opts.configureRs485({ name: port.name, path: port.path, spec });
  } catch (e) {
    // A pty (the simulator) refuses RS-485 ioctls; the port still works as a plain line.
    opts.log.warn(
      { port: port.name, path: port.path, err: messageOf(e) },
      'RS-485 settings could not be applied; continuing',
    );
  }
}

/** The profile's limits on line settings, checked and defaulted. */
export function lineSettings(spec: SerialPortSpec, o: SerialOpenOptions): LineSettings {
  const baudRate = o.baudRate ?? spec.defaultBaud ?? spec.baudRates[0];
  if (baudRate === undefined || !spec.baudRates.includes(baudRate)) {
    throw invalid(
      `serial port ${spec.name}: baud rate ${baudRate ?? '(none)'} is not allowed (allowed: ${spec.baudRates.join(', ')})`,
    );
  }
  const dataBits = o.dataBits ?? 8;
  if (dataBits !== 7 && dataBits !== 8)
    throw invalid(`serial port ${spec.name}: dataBits must be 7 or 8, got ${dataBits}`);
  const parity = o.parity ?? 'none';
  if (parity !== 'none' && parity !== 'even' && parity !== 'odd') {
    throw invalid(`serial port ${spec.name}: parity must be none, even or odd, got ${JSON.stringify(parity)}`);
  }
  const stopBits = o.stopBits ?? 1;
  if (stopBits !== 1 && stopBits !== 2)
    throw invalid(`serial port ${spec.name}: stopBits must be 1 or 2, got ${stopBits}`);
  return { baudRate, dataBits, parity, stopBits };
}

function describe(s: LineSettings): string {
  return `${s.baudRate} ${s.dataBits}${s.parity[0]?.toUpperCase()}${s.stopBits}`;
}

/** May `owner` join a port that is already open? Throws the reason it may not. */
function admit(port: OpenPort, owner: string, sharing: SerialSharing, settings: LineSettings): void {
  const holders = [...new Set([...port.users].map((u) => u.owner))].join(', ');
  if (port.sharing === 'exclusive') {
    throw new DeviceBusyError(port.name, holders, `serial port ${port.name} is held exclusively by ${holders}`);
  }
  if (sharing === 'exclusive') {
    throw new DeviceBusyError(
      port.name,
      holders,
      `serial port ${port.name} is shared in broker mode by ${holders}; it cannot be opened exclusively by ${owner}`,
    );
  }
  if (describe(settings) !== describe(port.settings)) {
    throw failedPrecondition(
      `serial port ${port.name} is shared at ${describe(port.settings)}; ${owner} asked for ${describe(settings)}`,
    );
  }
}

function checkTimeout(port: string, timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_SERIAL_TIMEOUT_MS) {
    throw invalid(`serial port ${port}: timeoutMs must be in (0, ${MAX_SERIAL_TIMEOUT_MS}], got ${timeoutMs}`);
  }
}

class Session implements SerialSession, PortUser {
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly openPort: OpenPort,
    readonly owner: string,
    private readonly sharing: SerialSharing,
    private readonly framing: Framing,
    private readonly onClose: (s: Session) => Promise<void>,
  ) {}

  get port(): string {
    return this.openPort.name;
  }

  async write(data: Uint8Array): Promise<void> {
    this.usable('write');
    await this.openPort.write(data);
  }

  async read(opts: { timeoutMs: number }): Promise<Uint8Array> {
    this.usable('read');
    checkTimeout(this.port, opts.timeoutMs);
    return this.openPort.enqueue(this, () => this.openPort.read(this.framing, opts.timeoutMs, this.owner));
  }

  async transact(request: Uint8Array, opts: { timeoutMs: number; framing?: Framing }): Promise<Uint8Array> {
    this.usable();
    checkTimeout(this.port, opts.timeoutMs);
    const framing = opts.framing ?? this.framing;
    validateFraming(framing);
    return this.openPort.enqueue(this, () => this.openPort.transaction(request, framing, opts.timeoutMs, this.owner));
  }

  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.onClose(this);
    return this.closing;
  }

  private usable(op?: 'read' | 'write'): void {
    if (this.closed) throw failedPrecondition(`serial port ${this.port}: the session of ${this.owner} is closed`);
    if (op && this.sharing === 'broker') {
      throw failedPrecondition(
        `serial port ${this.port} is shared (broker mode): ${this.owner} can only transact, not ${op}`,
      );
    }
  }
}
