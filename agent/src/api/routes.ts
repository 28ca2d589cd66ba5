import type { Router } from './router.js';

/** `GET /v1/info`: what this agent is and where it runs. */
export interface AgentInfo {
  version: string;
  deviceId: string;
  profile: { model: string; vendor: string; source: string };
  platform: string;
  arch: { architecture: string; variant?: string };
  dataDir: string;
  pid: number;
  node: string;
  startedAt: string;
  uptimeSeconds: number;
  cgroup: { version: string; unifiedMount?: string };
}

/** `GET /v1/health`: `ok` when every check passes; the API answers 503 otherwise. */
export interface AgentHealth {
  status: 'ok' | 'degraded';
  checks: Record<string, { ok: boolean; message?: string }>;
}

export interface InfoService {
  info(): AgentInfo;
  health(): AgentHealth;
}

export function addInfoRoutes(router: Router, svc: InfoService): Router {
  return router
    .add('GET', '/v1/info', () => ({ body: svc.info() }))
    .add('GET', '/v1/health', () => {
      const h = svc.health();
      return { status: h.status === 'ok' ? 200 : 503, body: h };
    });
}
