import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf, unavailable } from '../../errors.js';
import type { Direction, GpioBackend, Level } from './backend.js';

export interface SysfsGpioOptions {
  /** The sysfs mount ("/sys"), or a fake tree laid out like it. */
  sysfsRoot: string;
  /** How often a watched line's value file is read. Default 10 ms. */
  pollMs?: number;
  /** How long to wait for gpioN/ to appear after an export (udev may still be fixing its permissions). Default 1000 ms. */
  exportWaitMs?: number;
}

/**
 * GPIO through the kernel's sysfs interface, `<root>/class/gpio/`: export,
 * gpioN/{direction,value,edge,active_low}. Plain file I/O, so the same code
 * runs against the real /sys and against a fake tree in tests and the laptop
 * simulator.
 *
 * Edges: on a real sysfs, after writing `edge`, the kernel wakes a poll(2) on
 * the value file with POLLPRI. Node cannot wait for POLLPRI without a native
 * addon (fs.watch does not fire on sysfs attributes either), and on a fake
 * tree nobody would raise it anyway, so this backend reads the value file
 * every pollMs and reports changes. Pulses shorter than pollMs can be
 * missed; gateways that need hardware edge timing use the chardev backend.
 *
 * A line that is already exported (its gpioN/ exists) is used as it is: on a
 * real sysfs writing `export` again fails with EBUSY, and on a fake tree
 * gpioN/ must exist up front because nothing creates it on export.
 */
export function createSysfsGpioBackend(opts: SysfsGpioOptions): GpioBackend {
  const base = path.join(opts.sysfsRoot, 'class', 'gpio');
  const pollMs = opts.pollMs ?? 10;
  const activeLow = new Map<number, boolean>();
  const pollers = new Map<number, LinePoller>();
  const file = (line: number, name: string) => path.join(base, `gpio${line}`, name);

  async function put(line: number, name: string, text: string): Promise<void> {
    try {
      await writeFile(file(line, name), text);
    } catch (e) {
      throw unavailable(
        `GPIO line ${line}: cannot write ${JSON.stringify(text)} to ${file(line, name)}: ${messageOf(e)}`,
        {
          cause: e,
        },
      );
    }
  }

  async function get(line: number, name: string): Promise<string> {
    try {
      return (await readFile(file(line, name), 'utf8')).trim();
    } catch (e) {
      throw unavailable(`GPIO line ${line}: cannot read ${file(line, name)}: ${messageOf(e)}`, { cause: e });
    }
  }

  const exists = (p: string) =>
    access(p).then(
      () => true,
      () => false,
    );

  return {
    async export(line) {
      if (await exists(file(line, 'value'))) return;
      const exportFile = path.join(base, 'export');
      try {
        await writeFile(exportFile, String(line));
      } catch (e) {
        throw unavailable(`GPIO line ${line}: cannot export it through ${exportFile}: ${messageOf(e)}`, { cause: e });
      }
      const deadline = Date.now() + (opts.exportWaitMs ?? 1000);
      while (!(await exists(file(line, 'value')))) {
        if (Date.now() > deadline) {
          throw unavailable(
            `GPIO line ${line}: ${path.join(base, `gpio${line}`)} did not appear after export (a fake tree must create it up front)`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },

    async setActiveLow(line, value) {
      activeLow.set(line, value);
      await put(line, 'active_low', value ? '1' : '0');
    },

    async setDirection(line, direction: Direction) {
      const current = await get(line, 'direction');
      // An output keeps the level it has (say, across an agent restart):
      // re-setting the direction would drop a relay that an app had closed.
      if (direction === 'out' && (current === 'out' || current === 'low' || current === 'high')) return;
      if (direction === 'in' && current === 'in') return;
      // "low"/"high" set the raw level along with the direction, glitch-free;
      // plain "out" would drive an active-low line active for a moment.
      const text = direction === 'in' ? 'in' : activeLow.get(line) ? 'high' : 'low';
      await put(line, 'direction', text);
    },

    async read(line) {
      return parseLevel(line, await get(line, 'value'));
    },

    async write(line, value) {
      await put(line, 'value', String(value));
    },

    watch(line, _edge, onChange, onError) {
      // All changes are reported; the caller filters edges after debouncing,
      // so a bounce cannot pass a rising-only filter half-way.
      let poller = pollers.get(line);
      if (!poller) {
        poller = new LinePoller(file(line, 'value'), pollMs);
        pollers.set(line, poller);
        // Arms the kernel's edge interrupt on a real sysfs (needed for a
        // poll(2)-based watcher); some lines cannot raise one (EIO), and
        // polling the value works regardless.
        writeFile(file(line, 'edge'), 'both').catch(() => {});
      }
      const listener = { onChange, onError };
      poller.listeners.add(listener);
      const owned = poller;
      const known = poller.current;
      if (known !== undefined) queueMicrotask(() => onChange(known, Date.now()));
      return () => {
        owned.listeners.delete(listener);
        if (owned.listeners.size === 0) {
          owned.stop();
          if (pollers.get(line) === owned) pollers.delete(line);
        }
      };
    },

    async close() {
      for (const p of pollers.values()) p.stop();
      pollers.clear();
    },
  };
}

function parseLevel(line: number, text: string): Level {
  if (text === '0') return 0;
  if (text === '1') return 1;
  throw unavailable(`GPIO line ${line}: value file holds ${JSON.stringify(text.slice(0, 20))}, expected 0 or 1`);
}

interface Listener {
  onChange: (value: Level, ts: number) => void;
  onError: (e: Error) => void;
}

/** Reads one value file on an interval and tells listeners its first value and every change. */
class LinePoller {
  readonly listeners = new Set<Listener>();
  private last: Level | undefined;

  get current(): Level | undefined {
    return this.last;
  }

  private busy = false;
  private failing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const text = (await readFile(this.file, 'utf8')).trim();
      // A writer caught between truncate and write leaves the file empty for a moment: not a level.
      if (text !== '0' && text !== '1') return;
      this.failing = false;
      const value: Level = text === '1' ? 1 : 0;
      const before = this.last;
      this.last = value;
      if (before !== value) {
        const ts = Date.now();
        for (const l of this.listeners) l.onChange(value, ts);
      }
    } catch (e) {
      // Report a failing file once, not every pollMs.
      if (!this.failing) for (const l of this.listeners) l.onError(e as Error);
      this.failing = true;
    } finally {
      this.busy = false;
    }
  }
}
