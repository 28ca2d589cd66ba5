import type { LayerStatus, PullEvent } from '../images/ports.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

interface LayerView {
  short: string;
  size: number;
  have: number;
  status: LayerStatus;
  startedAt?: number;
  startedHave?: number;
}

/**
 * Renders pull progress. On a TTY: one live line per layer (bar, bytes, rate,
 * ETA), redrawn in place. Otherwise: one plain line per state change, so logs
 * and CI output stay readable.
 */
export class PullProgress {
  private readonly layers = new Map<string, LayerView>();
  private drawn = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
    private readonly now: () => number = Date.now,
    private readonly width = 24,
  ) {}

  onEvent(e: PullEvent): void {
    if (e.type === 'resolved') this.line(`Resolved ${e.source} to ${e.digest}`);
    else if (e.type === 'platform') this.line(`Platform ${e.platform}, manifest ${e.digest}`);
    else if (e.type === 'layer') this.onLayer(e);
    else if (e.type === 'done') {
      this.redraw();
      const extra = e.image.resumed ? `, resumed ${formatBytes(e.image.resumed)}` : '';
      this.line(
        `Pulled ${e.image.ref} (${e.image.digest}, ${formatBytes(e.image.size)} compressed, fetched ${formatBytes(e.image.downloaded ?? 0)}${extra})`,
      );
    }
  }

  private onLayer(e: Extract<PullEvent, { type: 'layer' }>): void {
    const known = this.layers.get(e.digest);
    const view: LayerView = known ?? { short: e.digest.slice(7, 19), size: e.size, have: 0, status: e.status };
    const changed = view.status !== e.status;
    view.status = e.status;
    if (e.have !== undefined) view.have = e.have;
    if (e.status === 'downloading' && view.startedAt === undefined) {
      view.startedAt = this.now();
      view.startedHave = e.have ?? 0;
    }
    if (e.status === 'cached' || e.status === 'done') view.have = view.size;
    this.layers.set(e.digest, view);
    if (this.tty) this.redraw();
    else if (changed || !known) this.write(`${view.short}: ${view.status} ${formatBytes(view.size)}\n`);
  }

  /** A line above the live layer block (TTY) or just a line. */
  private line(text: string): void {
    if (this.tty) {
      this.clearBlock();
      this.write(`${text}\n`);
      this.drawn = 0;
      this.redraw();
    } else this.write(`${text}\n`);
  }

  private clearBlock(): void {
    if (this.drawn > 0) this.write(`\x1b[${this.drawn}A\x1b[0J`);
  }

  private redraw(): void {
    if (!this.tty) return;
    this.clearBlock();
    const lines = [...this.layers.values()].map((v) => this.render(v));
    if (lines.length > 0) this.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  /** Pure given the view and the clock: one layer's line. */
  render(v: LayerView): string {
    const frac = v.size > 0 ? Math.min(1, v.have / v.size) : 1;
    const filled = Math.round(frac * this.width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}]`;
    let tail = '';
    if (v.status === 'downloading' && v.startedAt !== undefined) {
      const secs = (this.now() - v.startedAt) / 1000;
      const rate = secs > 0 ? (v.have - (v.startedHave ?? 0)) / secs : 0;
      const eta = rate > 0 ? Math.ceil((v.size - v.have) / rate) : undefined;
      tail = `  ${formatBytes(Math.round(rate))}/s${eta !== undefined ? `  ETA ${eta}s` : ''}`;
    }
    return `${v.short}  ${v.status.padEnd(11)} ${bar} ${formatBytes(v.have)} / ${formatBytes(v.size)}${tail}`;
  }
}
