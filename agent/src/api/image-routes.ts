import type { IncomingMessage } from 'node:http';
import { invalid } from '../errors.js';
import { parsePlatform } from '../images/platform-select.js';
import type { PullEvent } from '../images/ports.js';
import type { ImageService } from '../images/service.js';
import { eventStream } from './event-stream.js';
import type { Router } from './router.js';
import { readJsonBody } from './server.js';

function refParam(req: IncomingMessage): string {
  const ref = new URL(req.url ?? '/', 'http://gantry').searchParams.get('ref');
  if (!ref) throw invalid('query parameter ref is required');
  return ref;
}

/**
 * Images: `POST /v1/images/pull` streams NDJSON progress (a client that hangs
 * up cancels the pull); `GET /v1/images`; `GET /v1/images/inspect?ref=`;
 * `DELETE /v1/images?ref=`; `POST /v1/images/prune`.
 */
export function addImageRoutes(router: Router, images: ImageService): Router {
  return router
    .add('POST', '/v1/images/pull', async (req, _params, signal) => {
      const body = (await readJsonBody(req)) as { ref?: unknown; platform?: unknown };
      if (typeof body?.ref !== 'string') throw invalid('body must be {"ref": "...", "platform"?: "os/arch[/variant]"}');
      const platform = typeof body.platform === 'string' ? parsePlatform(body.platform) : undefined;
      const ref = body.ref;
      return {
        stream: eventStream<PullEvent>((emit) =>
          images.pull(ref, { ...(platform ? { platform } : {}), signal, onEvent: emit }),
        ),
      };
    })
    .add('GET', '/v1/images', () => ({ body: images.list() }))
    .add('GET', '/v1/images/inspect', (req) => ({ body: images.get(refParam(req)) }))
    .add('DELETE', '/v1/images', async (req) => ({ body: await images.remove(refParam(req)) }))
    .add('POST', '/v1/images/prune', async () => ({ body: await images.prune() }));
}
