import type { Edge } from '../types.js';

export type Level = 0 | 1;
export type Direction = 'in' | 'out';

/**
 * One way of reaching GPIO lines by number (the kernel's sysfs interface, or
 * the gpiochip character device through libgpiod's tools). Values are
 * logical: with activeLow set, 1 means the line is electrically low. Lines
 * are set up once (export, polarity, direction) before they are used.
 */
export interface GpioBackend {
  /** Make the line usable (sysfs: write its number to `export`). */
  export(line: number): Promise<void>;
  /** Set polarity; call before setDirection, so an output starts inactive. */
  setActiveLow(line: number, activeLow: boolean): Promise<void>;
  /** Set direction; an output line starts at logical 0 unless it was already an output. */
  setDirection(line: number, direction: Direction): Promise<void>;
  read(line: number): Promise<Level>;
  write(line: number, value: Level): Promise<void>;
  /**
   * Calls onChange with the line's logical value on every edge of the kind
   * asked for (undebounced), and possibly with its current value when
   * watching starts or repeated values: the caller compares with what it
   * knew. Returns a function that stops watching; failures after the start
   * go to onError.
   */
  watch(
    line: number,
    edge: Edge,
    onChange: (value: Level, ts: number) => void,
    onError: (e: Error) => void,
  ): () => void;
  close(): Promise<void>;
}
