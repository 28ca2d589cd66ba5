/**
 * Drive one eSDK session in-process (no socket): requests in, the frames it
 * would write out recorded. For unit tests and the fuzzer.
 */
import type { AppContext } from '../../agent/src/esdk/backends.js';
import type { EventFrame, ResponseFrame, WireError } from '../../agent/src/esdk/frame.js';
import { METHODS } from '../../agent/src/esdk/methods.js';
import { Session, type SessionOutput } from '../../agent/src/esdk/session.js';
import { type FakeBackends, fakeBackends, meterReader } from './fake-devices.js';

export interface SessionHarness {
  session: Session;
  backends: FakeBackends;
  app: { ctx: AppContext };
  responses: ResponseFrame[];
  events: EventFrame[];
  fatals: WireError[];
  /** When false, droppable pushes are refused (a client over the high-water mark). */
  accepting: boolean;
  /** Send a request; resolves with its response. */
  call(method: string, params?: Record<string, unknown>): Promise<ResponseFrame>;
  /** The result of a request that must succeed. */
  ok<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** The error of a request that must fail. */
  fail(method: string, params?: Record<string, unknown>): Promise<WireError>;
}

export function sessionHarness(
  ctx: AppContext = meterReader(),
  backends: FakeBackends = fakeBackends(),
): SessionHarness {
  const app = { ctx };
  const h: Partial<SessionHarness> & { responses: ResponseFrame[]; events: EventFrame[]; fatals: WireError[] } = {
    backends,
    app,
    responses: [],
    events: [],
    fatals: [],
    accepting: true,
  };
  const out: SessionOutput = {
    respond: (f) => h.responses.push(f),
    push: (f, droppable) => {
      if (droppable && !h.accepting) return false;
      h.events.push(f);
      return true;
    },
    fatal: (e) => h.fatals.push(e),
  };
  const session = new Session(app, backends, out, METHODS);
  let nextId = 1;
  const call = async (method: string, params?: Record<string, unknown>) => {
    const id = nextId++;
    await session.handle(params === undefined ? { id, method } : { id, method, params });
    const r = h.responses.find((x) => x.id === id);
    if (!r) throw new Error(`no response to ${method} (id ${id})`);
    return r;
  };
  return Object.assign(h, {
    session,
    call,
    async ok<T>(method: string, params?: Record<string, unknown>): Promise<T> {
      const r = await call(method, params);
      if ('error' in r) throw new Error(`${method} failed: ${r.error.code}: ${r.error.message}`);
      return r.result as T;
    },
    async fail(method: string, params?: Record<string, unknown>): Promise<WireError> {
      const r = await call(method, params);
      if (!('error' in r)) throw new Error(`${method} succeeded: ${JSON.stringify(r.result)}`);
      return r.error;
    },
  }) as SessionHarness;
}
