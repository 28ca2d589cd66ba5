import type { Edge } from '../types.js';
import type { Level } from './backend.js';

/**
 * Argument building and output parsing for libgpiod's command-line tools,
 * version 1.6 syntax (Debian bookworm's `gpiod` package): pure, so they are
 * unit-tested here even though the tools themselves cannot run on a machine
 * without GPIO hardware or the gpio-sim module.
 *
 *   gpioget [-l] CHIP OFFSET            -> prints "0" or "1"
 *   gpioset [-l] -m signal CHIP OFFSET=V -> holds the line until SIGTERM
 *   gpiomon [-l] [-r|-f] -b -F FMT CHIP OFFSET -> one line per edge
 */

export function gpiogetArgs(chip: string, line: number, activeLow: boolean): string[] {
  return [...(activeLow ? ['-l'] : []), chip, String(line)];
}

export function parseGpiogetOutput(stdout: string): Level {
  const v = stdout.trim();
  if (v === '0' || v === '1') return v === '1' ? 1 : 0;
  throw new Error(`gpioget printed ${JSON.stringify(stdout.slice(0, 80))}, expected 0 or 1`);
}

/**
 * `-m signal`: in v1 a line keeps its value only while it is requested, so
 * gpioset must stay alive holding it; the backend kills it to change the value.
 */
export function gpiosetArgs(chip: string, line: number, value: Level, activeLow: boolean): string[] {
  return [...(activeLow ? ['-l'] : []), '-m', 'signal', chip, `${line}=${value}`];
}

/** Our own output format (`%e %o %s %n`: edge 1/0, offset, seconds, nanoseconds): nothing to guess about. */
export const GPIOMON_FORMAT = '%e %o %s %n';

export function gpiomonArgs(chip: string, line: number, edge: Edge, activeLow: boolean): string[] {
  const edgeFlag = edge === 'rising' ? ['-r'] : edge === 'falling' ? ['-f'] : [];
  // -b: line-buffered stdout, or events would sit in a pipe buffer.
  return [...(activeLow ? ['-l'] : []), ...edgeFlag, '-b', '-F', GPIOMON_FORMAT, chip, String(line)];
}

export interface GpiomonEvent {
  edge: 'rising' | 'falling';
  offset: number;
  /** The kernel's event timestamp in ns (CLOCK_MONOTONIC on current kernels, not the epoch). */
  kernelNs: bigint;
}

/**
 * One line of gpiomon output: our `-F` format, or the default human format
 * (`event:  RISING EDGE offset: 17 timestamp: [  1234.000000042]`) so the
 * parser also reads logs of a hand-run gpiomon. Undefined for anything else.
 */
export function parseGpiomonLine(text: string): GpiomonEvent | undefined {
  const line = text.trim();
  const custom = /^([01]) (\d+) (\d+) (\d+)$/.exec(line);
  if (custom) {
    const [, e, offset, s, ns] = custom;
    return {
      edge: e === '1' ? 'rising' : 'falling',
      offset: Number(offset),
      kernelNs: BigInt(s ?? 0) * 1_000_000_000n + BigInt(ns ?? 0),
    };
  }
  const human = /^event:\s+(RISING|FALLING) EDGE offset:\s*(\d+) timestamp:\s*\[\s*(\d+)\.(\d{1,9})\]$/.exec(line);
  if (human) {
    const [, e, offset, s, frac] = human;
    return {
      edge: e === 'RISING' ? 'rising' : 'falling',
      offset: Number(offset),
      kernelNs: BigInt(s ?? 0) * 1_000_000_000n + BigInt((frac ?? '0').padEnd(9, '0')),
    };
  }
  return undefined;
}

/** Splits a stream of stdout chunks into complete lines; the tail waits for its newline. */
export class LineSplitter {
  private tail = '';
  push(chunk: string): string[] {
    const parts = (this.tail + chunk).split('\n');
    this.tail = parts.pop() ?? '';
    return parts.filter((l) => l.length > 0);
  }
}
