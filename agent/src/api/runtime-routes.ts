import type { IncomingMessage } from 'node:http';
import { invalid } from '../errors.js';
import type { RuntimeService } from '../runtime/service.js';
import type { LogLine } from '../runtime/types.js';
import type { Router } from './router.js';
import { readJsonBody } from './server.js';

/** Reads a container's log file: `readLogs` of the driver, injected so this module stays free of it. */
export type LogReader = (
  path: string,
  opts: { tail?: number; since?: Date; follow?: boolean; signal?: AbortSignal },
) => AsyncIterable<LogLine>;

/** `?t=S`: seconds between SIGTERM and SIGKILL. */
function graceMs(req: IncomingMessage): number | undefined {
  const t = query(req).get('t');
  if (t === null) return undefined;
  if (!/^\d+$/.test(t)) throw invalid('t (grace seconds before SIGKILL) must be a whole number');
  return Number(t) * 1000;
}

function query(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://gantry').searchParams;
}

/**
 * Apps (containers): `POST /v1/apps` runs one from an app spec; `GET
 * /v1/apps[?all=1]`; `GET /v1/apps/:name`; `POST /v1/apps/:name/{stop,start,
 * restart,pause,resume}`; `DELETE /v1/apps/:name[?force=1]`; `GET /v1/stats`;
 * `GET /v1/apps/:name/logs?tail=&since=&follow=1` streams NDJSON log lines.
 */
export function addRuntimeRoutes(router: Router, runtime: RuntimeService, readLogs: LogReader): Router {
  router
    .add('POST', '/v1/apps', async (req) => ({ status: 201, body: await runtime.run(await readJsonBody(req)) }))
    .add('GET', '/v1/apps', async (req) => ({ body: await runtime.list(query(req).get('all') === '1') }))
    .add('GET', '/v1/apps/:name', async (_req, p) => ({ body: await runtime.inspect(p.name as string) }))
    .add('DELETE', '/v1/apps/:name', async (req, p) => {
      await runtime.remove(p.name as string, query(req).get('force') === '1');
      return { body: { removed: p.name } };
    })
    .add('GET', '/v1/stats', async () => ({ body: await runtime.stats() }))
    .add('GET', '/v1/apps/:name/logs', (req, p, signal) => {
      const q = query(req);
      const tail = q.get('tail');
      const since = q.get('since');
      if (tail !== null && !/^\d+$/.test(tail)) throw invalid('tail must be a whole number');
      if (since !== null && Number.isNaN(Date.parse(since))) throw invalid('since must be a date (RFC 3339)');
      return {
        stream: readLogs(runtime.logPath(p.name as string), {
          ...(tail !== null ? { tail: Number(tail) } : {}),
          ...(since !== null ? { since: new Date(since) } : {}),
          follow: q.get('follow') === '1',
          signal,
        }),
      };
    });
  router.add('POST', '/v1/apps/:name/stop', async (req, p) => ({
    body: { exit: (await runtime.stop(p.name as string, graceMs(req))) ?? null },
  }));
  router.add('POST', '/v1/apps/:name/start', async (_req, p) => ({ body: await runtime.start(p.name as string) }));
  router.add('POST', '/v1/apps/:name/restart', async (req, p) => ({
    body: await runtime.restart(p.name as string, graceMs(req)),
  }));
  router.add('POST', '/v1/apps/:name/pause', async (_req, p) => {
    await runtime.pause(p.name as string);
    return { body: { paused: p.name } };
  });
  router.add('POST', '/v1/apps/:name/resume', async (_req, p) => {
    await runtime.resume(p.name as string);
    return { body: { resumed: p.name } };
  });
  return router;
}
