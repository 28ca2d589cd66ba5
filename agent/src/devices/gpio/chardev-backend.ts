import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { unavailable } from '../../errors.js';
import type { Direction, GpioBackend, Level } from './backend.js';
import {
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  LineSplitter,
  parseGpiogetOutput,
  parseGpiomonLine,
} from './gpiod-cli.js';

const run = promisify(execFile);

/**
 * GPIO through /dev/gpiochipN, by libgpiod 1.6's command-line tools (Debian
 * package `gpiod`) run as child processes: gpioget per read, one long-lived
 * `gpioset -m signal` per output line (v1 keeps a value only while the line
 * is requested), one `gpiomon` per watched line.
 *
 * UNTESTED HERE: the build machines have no GPIO hardware and no gpio-sim
 * module, so only the argument building and output parsing (gpiod-cli.ts)
 * are tested. Known v1 limits: a line held by gpiomon or gpioset cannot be
 * read by gpioget (EBUSY), so reads of outputs are answered from the last
 * written value above this backend, and an input being watched answers from
 * its last event when it has one.
 */
export function createChardevGpioBackend(opts: { chip: string; toolDir?: string }): GpioBackend {
  const tool = (name: string) => (opts.toolDir ? `${opts.toolDir}/${name}` : name);
  const activeLow = new Map<number, boolean>();
  const setters = new Map<number, ChildProcess>();
  const monitors = new Set<ChildProcess>();
  const lastEvent = new Map<number, Level>();
  const al = (line: number) => activeLow.get(line) ?? false;

  function stopSetter(line: number): void {
    setters.get(line)?.kill('SIGTERM');
    setters.delete(line);
  }

  return {
    // The character device needs no export: a line is requested by each tool call.
    async export() {},
    async setActiveLow(line, value) {
      activeLow.set(line, value);
    },
    async setDirection(_line: number, _direction: Direction) {
      // Direction is implied by the tool: gpioget/gpiomon request input, gpioset output.
    },
    async read(line) {
      const held = lastEvent.get(line);
      if (held !== undefined) return held;
      try {
        const { stdout } = await run(tool('gpioget'), gpiogetArgs(opts.chip, line, al(line)), { timeout: 2000 });
        return parseGpiogetOutput(stdout);
      } catch (e) {
        throw unavailable(`GPIO ${opts.chip} line ${line}: gpioget failed: ${(e as Error).message}`, { cause: e });
      }
    },
    async write(line, value) {
      stopSetter(line);
      const child = spawn(tool('gpioset'), gpiosetArgs(opts.chip, line, value, al(line)), {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      setters.set(line, child);
      // gpioset -m signal prints nothing and stays; an early exit is a failure to request the line.
      await new Promise<void>((resolve, reject) => {
        let stderr = '';
        child.stderr?.on('data', (c: Buffer) => {
          stderr += c.toString();
        });
        const settle = setTimeout(resolve, 50);
        child.once('error', (e) => {
          clearTimeout(settle);
          reject(unavailable(`GPIO ${opts.chip} line ${line}: cannot run gpioset: ${e.message}`, { cause: e }));
        });
        child.once('exit', (code) => {
          if (setters.get(line) === child) setters.delete(line);
          clearTimeout(settle);
          reject(unavailable(`GPIO ${opts.chip} line ${line}: gpioset exited (${code}): ${stderr.trim()}`));
        });
      });
    },
    watch(line, edge, onChange, onError) {
      const child = spawn(tool('gpiomon'), gpiomonArgs(opts.chip, line, edge, al(line)), {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      monitors.add(child);
      const lines = new LineSplitter();
      let stopped = false;
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        for (const text of lines.push(chunk)) {
          const ev = parseGpiomonLine(text);
          if (!ev || ev.offset !== line) continue;
          const value: Level = ev.edge === 'rising' ? 1 : 0;
          lastEvent.set(line, value);
          // The kernel stamps events on CLOCK_MONOTONIC; the contract wants the epoch, so stamp on arrival.
          onChange(value, Date.now());
        }
      });
      child.once('error', (e) => onError(e));
      child.once('exit', (code) => {
        monitors.delete(child);
        lastEvent.delete(line);
        if (!stopped) onError(new Error(`gpiomon for ${opts.chip} line ${line} exited (${code})`));
      });
      return () => {
        stopped = true;
        child.kill('SIGTERM');
      };
    },
    async close() {
      for (const line of [...setters.keys()]) stopSetter(line);
      for (const m of monitors) m.kill('SIGTERM');
      monitors.clear();
    },
  };
}
