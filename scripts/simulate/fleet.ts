/**
 * N simulated gateways in one process (see gateway.ts for what each one is).
 * Which gateways fail health and which stay offline is chosen up front, by
 * share (deterministically from a seed) or by id.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { BUNDLED_PROFILES_DIR } from '../../agent/src/config/profile.js';
import type { FirmwareProfile } from '../../agent/src/config/profile-types.js';
import { invalid } from '../../agent/src/errors.js';
import { SimGateway } from './gateway.js';

export interface SimulatedFleetOptions {
  brokerUrl: string;
  count: number;
  /** Device ids are `${prefix}${index}`, zero-padded to the width of count-1. Default "sim-". */
  prefix?: string;
  /** kid -> ed25519 public key: what every gateway trusts. */
  trustedKeys: ReadonlyMap<string, KeyObject>;
  /** A firmware profile, or the name of a bundled one. Default ec-iot-arm. */
  profile?: FirmwareProfile | string;
  /** Container start delay. Default 500 ms. */
  startDelayMs?: number;
  /** Without a health check an app is healthy after running this long. Default 1000 ms. */
  stableMs?: number;
  /** Share (0..1) of gateways whose containers fail health, or their ids. */
  failHealth?: number;
  failDevices?: readonly string[];
  /** The images that fail on a failing gateway; default every image (a gateway that can run nothing). */
  failImages?: readonly string[];
  /** Share (0..1) of gateways that never connect, or their ids. */
  offline?: number;
  offlineDevices?: readonly string[];
  /** Seed for choosing the shares. Default 1. */
  seed?: number;
  /** How many gateways connect at the same time. Default 100. */
  connectConcurrency?: number;
  /** Debounce of the reported state on change. Default 100 ms. */
  reportDebounceMs?: number;
  log?: Logger;
}

export interface SimulatedFleet {
  readonly ids: readonly string[];
  readonly failing: readonly string[];
  readonly offline: readonly string[];
  gateway(id: string): SimGateway;
  /** Disconnect a gateway cleanly (its status goes `offline`); its apps keep running. */
  goOffline(id: string): Promise<void>;
  goOnline(id: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSimulatedFleet(opts: SimulatedFleetOptions): Promise<SimulatedFleet> {
  if (!Number.isInteger(opts.count) || opts.count < 1)
    throw invalid(`--count ${opts.count}: expected a positive integer`);
  const prefix = opts.prefix ?? 'sim-';
  const width = String(opts.count - 1).length;
  const ids = Array.from({ length: opts.count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
  const random = mulberry32(opts.seed ?? 1);
  const failing = pick(ids, opts.failHealth, opts.failDevices, random, '--fail-health');
  const offline = pick(ids, opts.offline, opts.offlineDevices, random, '--offline');
  const profile = typeof opts.profile === 'object' ? opts.profile : await bundledProfile(opts.profile ?? 'ec-iot-arm');
  const log = opts.log ?? pino({ level: 'silent' });
  const failImages = opts.failImages && opts.failImages.length > 0 ? new Set(opts.failImages) : true;

  const gateways = new Map<string, SimGateway>();
  for (const id of ids) {
    gateways.set(
      id,
      new SimGateway({
        id,
        brokerUrl: opts.brokerUrl,
        trustedKeys: opts.trustedKeys,
        profile,
        log,
        startDelayMs: opts.startDelayMs ?? 500,
        stableMs: opts.stableMs ?? 1000,
        failImages: failing.has(id) ? failImages : undefined,
        reportDebounceMs: opts.reportDebounceMs ?? 100,
      }),
    );
  }
  const get = (id: string): SimGateway => {
    const g = gateways.get(id);
    if (!g) throw invalid(`no simulated gateway ${id}`);
    return g;
  };

  const toConnect = ids.filter((id) => !offline.has(id));
  const concurrency = opts.connectConcurrency ?? 100;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, toConnect.length) }, async () => {
      while (next < toConnect.length) {
        const id = toConnect[next++] as string;
        await get(id).connect();
      }
    }),
  );

  return {
    ids,
    failing: ids.filter((id) => failing.has(id)),
    offline: ids.filter((id) => offline.has(id)),
    gateway: get,
    goOffline: (id) => get(id).disconnect(),
    goOnline: (id) => get(id).connect(),
    async stop() {
      await Promise.all([...gateways.values()].map((g) => g.stop()));
    },
  };
}

async function bundledProfile(name: string): Promise<FirmwareProfile> {
  const file = name.includes('/') || name.endsWith('.json') ? name : path.join(BUNDLED_PROFILES_DIR, `${name}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as FirmwareProfile;
  } catch (e) {
    throw invalid(`cannot read firmware profile ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function pick(
  ids: readonly string[],
  share: number | undefined,
  named: readonly string[] | undefined,
  random: () => number,
  flag: string,
): Set<string> {
  const out = new Set<string>();
  for (const id of named ?? []) {
    if (!ids.includes(id)) throw invalid(`${flag}: ${id} is not one of the simulated gateways`);
    out.add(id);
  }
  if (share !== undefined) {
    if (!(share >= 0 && share <= 1)) throw invalid(`${flag} ${share}: expected a share from 0 to 1`);
    const shuffled = [...ids];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
    }
    for (const id of shuffled.slice(0, Math.round(share * ids.length))) out.add(id);
  }
  return out;
}

/** A small seeded PRNG: the same seed picks the same gateways. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
