/**
 * Turn callback-style progress into an async iterable for an NDJSON response:
 * `work(emit)` runs at once; every emitted event is yielded in order; the
 * iterable ends when `work` settles (rethrowing its error after the events
 * that came before it). INVARIANT: events are never dropped, only queued.
 */
export function eventStream<E>(work: (emit: (event: E) => void) => Promise<unknown>): AsyncIterable<E> {
  const queue: E[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };
  work((e) => {
    queue.push(e);
    nudge();
  }).then(
    () => {
      finished = true;
      nudge();
    },
    (error: unknown) => {
      failure = { error };
      finished = true;
      nudge();
    },
  );
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as E;
        if (finished) break;
        await new Promise<void>((r) => {
          wake = r;
        });
      }
      if (failure) throw failure.error;
    },
  };
}
