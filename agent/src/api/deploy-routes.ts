import type { IncomingMessage } from 'node:http';
import type { DeployEvent, DeployService } from '../deploy/service.js';
import { invalid } from '../errors.js';
import { eventStream } from './event-stream.js';
import type { Router } from './router.js';
import { readTextBody } from './server.js';

const param = (req: IncomingMessage, name: string) => new URL(req.url ?? '/', 'http://gantry').searchParams.get(name);
const flag = (req: IncomingMessage, name: string) => param(req, name) === '1';

/**
 * Deployments: `POST /v1/deployments` with a deployment document streams
 * NDJSON apply events ending with `{"type":"result"}` (`?dryRun=1` answers
 * the plan instead); `POST /v1/deployments/rollback` streams the same;
 * `GET /v1/deployments` gives the state and history; `GET
 * /v1/deployments/:revision` one record. A client that hangs up does not
 * cancel an apply: the document is already the gateway's desired state.
 */
export function addDeployRoutes(router: Router, deploy: DeployService): Router {
  return router
    .add('POST', '/v1/deployments', async (req) => {
      // The text as sent, so errors point at lines of the operator's file (?source= names it).
      const doc = { text: await readTextBody(req), source: param(req, 'source') ?? 'deployment' };
      if (flag(req, 'dryRun')) return { body: await deploy.dryRun(doc) };
      deploy.check(doc); // refusals answer 4xx before the stream starts
      return { status: 202, stream: eventStream<DeployEvent>((emit) => deploy.submit(doc, 'cli', emit)) };
    })
    .add('POST', '/v1/deployments/rollback', () => {
      deploy.rollbackTarget();
      return { status: 202, stream: eventStream<DeployEvent>((emit) => deploy.rollback(emit)) };
    })
    .add('GET', '/v1/deployments', () => ({ body: { ...deploy.status(), history: deploy.list() } }))
    .add('GET', '/v1/deployments/:revision', (_req, p) => {
      const rev = Number(p.revision);
      if (!Number.isInteger(rev) || rev < 1) throw invalid('revision must be a whole number from 1');
      return { body: deploy.get(rev) };
    });
}
