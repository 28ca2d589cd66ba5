/**
 * The `dependsOn` graph of a deployment's apps: start order and cycles. Pure.
 * An edge a -> b means "a depends on b": b starts first and stops last.
 */

type Graph = Record<string, { dependsOn?: string[] }>;

const has = (apps: Graph, name: string): boolean => Object.hasOwn(apps, name);

/**
 * App names in start order: dependencies first, ties broken by name so the
 * same apps always give the same order. Unknown names are ignored; apps in a
 * cycle (which validation refuses) are placed by name where the cycle stalls
 * the order, so the function is total.
 */
export function startOrder(apps: Graph): string[] {
  const remaining = new Set(Object.keys(apps).sort());
  const order: string[] = [];
  const placed = new Set<string>();
  while (remaining.size > 0) {
    let next: string | undefined;
    for (const name of remaining) {
      const deps = (apps[name]?.dependsOn ?? []).filter((d) => d !== name && has(apps, d));
      if (deps.every((d) => placed.has(d))) {
        next = name;
        break;
      }
    }
    // A cycle: nothing is ready, so take the first remaining name and carry on.
    next ??= remaining.values().next().value as string;
    remaining.delete(next);
    placed.add(next);
    order.push(next);
  }
  return order;
}

/**
 * Every dependency cycle, one per strongly connected component, each as the
 * path that closes it, e.g. ['a', 'b', 'a'], starting at the component's
 * smallest name and taking the shortest way back (so the text is stable).
 */
export function dependencyCycles(apps: Graph): string[][] {
  const edges = (name: string) => (apps[name]?.dependsOn ?? []).filter((d) => has(apps, d));
  const cycles: string[][] = [];
  for (const component of stronglyConnected(Object.keys(apps).sort(), edges)) {
    const start = [...component].sort()[0] as string;
    if (component.size === 1 && !edges(start).includes(start)) continue;
    cycles.push(shortestCycle(start, (n) => edges(n).filter((d) => component.has(d))));
  }
  return cycles.sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1));
}

/** Tarjan's algorithm; recursion depth is bounded by the number of apps (tens). */
function stronglyConnected(nodes: string[], edges: (n: string) => string[]): Array<Set<string>> {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: Array<Set<string>> = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = new Set<string>();
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.add(w);
      } while (w !== v);
      out.push(component);
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return out;
}

/** Breadth-first from `start` back to itself; `start` is known to be on a cycle. */
function shortestCycle(start: string, edges: (n: string) => string[]): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of edges(v)) {
      if (w === start) {
        const path = [start];
        for (let at: string | undefined = v; at !== start && at !== undefined; at = parent.get(at))
          path.splice(1, 0, at);
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
