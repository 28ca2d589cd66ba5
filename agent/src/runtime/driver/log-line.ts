import type { LogLine } from '../types.js';

/**
 * conmon's k8s-file record (ctr_logging.c, write_k8s_log): one per line of
 * container output, `<timestamp> <stdout|stderr> <F|P> <text>\n`. The
 * timestamp is local time with a numeric offset and always 9 fraction digits
 * (set_k8s_timestamp: `%Y-%m-%dT%H:%M:%S.%09ld±hh:mm`); we also accept `Z` and
 * shorter fractions, as CRI-O and kubelet write them. `P` marks a record that
 * conmon cut because the text had no newline yet (a partial line, or a line
 * longer than its 8 KiB read buffer): the next record of the stream continues it.
 */
const RECORD = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP])(?: (.*))?$/s;

/** Pure: parse one k8s-file record (without its trailing newline); undefined if it is not one. */
export function parseLogLine(line: string): LogLine | undefined {
  const m = RECORD.exec(line.endsWith('\n') ? line.slice(0, -1) : line);
  if (m === null) return undefined;
  const [, time, stream, tag, text] = m;
  if (time === undefined || Number.isNaN(Date.parse(time))) return undefined;
  return {
    time,
    stream: stream === 'stderr' ? 'stderr' : 'stdout',
    complete: tag === 'F',
    text: text ?? '',
  };
}

/** Milliseconds since the epoch of a record's time (nanoseconds are cut; Date.parse reads 9 fraction digits). */
export function logLineMillis(line: LogLine): number {
  return Date.parse(line.time);
}
