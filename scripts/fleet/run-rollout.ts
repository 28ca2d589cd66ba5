/**
 * The rollout's I/O shell around the pure machine (rollout-machine.ts):
 * connect, read the fleet from retained messages, then tick: advance the
 * machine with what the gateways report, save the state file when it moved
 * (before anything is published, so a killed run never forgets a publish it
 * made), publish what the machine asks for, draw progress. Re-running with
 * the same state file resumes.
 */
import { createHash, createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { signEnvelopeBytes } from '../../agent/src/cloud/envelope.js';
import { keyFingerprint, loadPrivateKey } from '../../agent/src/cloud/keys.js';
import { parseDeployment } from '../../agent/src/deploy/document.js';
import { failedPrecondition, invalid } from '../../agent/src/errors.js';
import { FleetView } from './fleet-view.js';
import { type Group, resolveGroup } from './groups.js';
import { type BrokerOptions, connectBroker, publishMany } from './mqtt-link.js';
import { type RolloutSummary, renderLine, renderLive, renderReport, summarize } from './progress.js';
import {
  type Action,
  advance,
  createRollout,
  type RolloutPolicy,
  type RolloutState,
  resume,
  rollbackDocument,
  TERMINAL_PHASES,
} from './rollout-machine.js';
import { parseWaves } from './rollout-plan.js';
import { acquireLock, exists, loadState, saveState, takeAbortRequest } from './state-file.js';

export interface NewRolloutRequest {
  documentFile: string;
  group: Group;
  policy: RolloutPolicy;
  keyFile: string;
  kid?: string;
}

export interface RolloutRunOptions {
  broker: BrokerOptions;
  stateFile: string;
  /** A new rollout; absent: resume the one in stateFile. */
  start?: NewRolloutRequest;
  /** Sign with this key file instead of the one the state names (resume). */
  keyFile?: string;
  json: boolean;
  tty: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  tickMs?: number;
  /** Resolves when the run should stop early (SIGINT): the state is saved, the rollout can be resumed. */
  interrupted?: Promise<void>;
}

export interface RolloutRunResult {
  summary: RolloutSummary;
  interrupted: boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export async function runRollout(opts: RolloutRunOptions): Promise<RolloutRunResult> {
  const stateExists = await exists(opts.stateFile);
  let saved: RolloutState | undefined;
  if (stateExists) {
    saved = await loadState(opts.stateFile);
    if (opts.start) await checkSameRollout(saved, opts.start, opts.stateFile);
    if (TERMINAL_PHASES.has(saved.phase)) {
      throw failedPrecondition(
        `the rollout in ${opts.stateFile} is over (${saved.phase}); give a new --state file to start another`,
      );
    }
  } else if (!opts.start) {
    throw invalid(`no rollout to resume: ${opts.stateFile} does not exist`);
  }
  const release = await acquireLock(opts.stateFile);
  let client: MqttClient | undefined;
  let view: FleetView | undefined;
  try {
    const keyFile = opts.keyFile ?? opts.start?.keyFile ?? saved?.keyFile ?? '';
    const key = await loadPrivateKey(keyFile);
    client = await connectBroker(opts.broker);
    view = new FleetView(client);
    await view.start({ captureDesired: saved === undefined });

    let state: RolloutState;
    let pending: Action[] = [];
    if (saved) {
      const r = resume(saved, Date.now());
      state = r.state;
      pending = r.actions;
      if (!opts.json) opts.err(`resuming rollout ${state.id} from ${opts.stateFile}\n`);
    } else {
      state = await newRollout(opts.start as NewRolloutRequest, view, keyFile, key);
      if (!opts.json) {
        opts.err(
          `rollout ${state.id}: revision ${state.revision} to ${Object.keys(state.devices).length} gateways in ${state.waves.length} waves; state in ${opts.stateFile}\n`,
        );
      }
    }
    await saveState(opts.stateFile, state);

    const signer = new Signer(state, key);
    const live = new LiveOutput(opts);
    let interrupted = false;
    void opts.interrupted?.then(() => {
      interrupted = true;
    });
    let lastSaved = state.seq;
    let lastSaveAt = Date.now();
    for (;;) {
      if (pending.length > 0) {
        if (state.seq !== lastSaved) {
          await saveState(opts.stateFile, state);
          lastSaved = state.seq;
          lastSaveAt = Date.now();
        }
        for (const action of pending) await publish(client, signer, state, action);
        pending = [];
      }
      live.draw(summarize(state, view.observations(), Date.now()));
      if (TERMINAL_PHASES.has(state.phase) || interrupted) break;
      await sleep(opts.tickMs ?? 200);
      const abort = await takeAbortRequest(opts.stateFile);
      const step = advance(state, view.observations(), Date.now(), abort ? { abort } : {});
      state = step.state;
      pending = step.actions;
      // Publishes are saved before they go out (above); other progress at most once a second.
      if (pending.length === 0 && state.seq !== lastSaved && Date.now() - lastSaveAt >= 1000) {
        await saveState(opts.stateFile, state);
        lastSaved = state.seq;
        lastSaveAt = Date.now();
      }
    }
    await saveState(opts.stateFile, state);
    const summary = summarize(state, view.observations(), Date.now());
    live.finish(summary, interrupted, opts.stateFile);
    return { summary, interrupted };
  } finally {
    view?.stop();
    await client?.endAsync().catch(() => undefined);
    await release();
  }
}

async function newRollout(
  req: NewRolloutRequest,
  view: FleetView,
  keyFile: string,
  key: KeyObject,
): Promise<RolloutState> {
  const text = await readFile(req.documentFile, 'utf8').catch((e: unknown) => {
    throw invalid(`cannot read deployment ${req.documentFile}: ${(e as Error).message}`);
  });
  // Schema-check before sending it to a fleet (the profile rules are each gateway's own business).
  const doc = parseDeployment(text, req.documentFile);
  const devices = resolveGroup(req.group, view.list());
  if (devices.length === 0) throw invalid(`group ${req.group.source} matches no gateway the broker knows of`);
  const ahead = devices.filter((id) => {
    const d = view.get(id)?.deployment;
    return d !== undefined && Math.max(d.highest ?? -1, d.revision ?? -1) >= doc.revision;
  });
  if (ahead.length > 0) {
    const list = ahead.slice(0, 10).map((id) => `${id} (${view.get(id)?.deployment?.highest})`);
    throw failedPrecondition(
      `revision ${doc.revision} is not above what ${ahead.length} gateway(s) already accepted: ${list.join(', ')}${ahead.length > 10 ? ', ...' : ''}; gateways refuse a revision at or below their highest, so give the document a higher revision`,
    );
  }
  return createRollout({
    id: `r${doc.revision}-${randomUUID().slice(0, 8)}`,
    now: Date.now(),
    revision: doc.revision,
    document: text,
    documentFile: req.documentFile,
    kid: req.kid ?? keyFingerprint(createPublicKey(key)),
    keyFile,
    group: req.group.source,
    devices,
    waves: parseWaves(req.policy.waves),
    policy: req.policy,
    previous: view.desired,
    hash: sha256,
  });
}

async function checkSameRollout(saved: RolloutState, start: NewRolloutRequest, file: string): Promise<void> {
  const text = await readFile(start.documentFile, 'utf8');
  if (text !== saved.document) {
    throw failedPrecondition(
      `${file} holds rollout ${saved.id} of revision ${saved.revision} (${saved.documentFile}), not ${start.documentFile}; resume it with \`resume ${file}\` or give another --state file`,
    );
  }
}

/** Envelopes, signed once each: the target document, and one rollback document per distinct previous one. */
class Signer {
  private readonly cache = new Map<string, Uint8Array>();
  constructor(
    private readonly state: RolloutState,
    private readonly key: KeyObject,
  ) {}

  target(state: RolloutState): Uint8Array {
    return this.sign('target', () => state.document);
  }

  rollback(state: RolloutState, previous: string | null, revision: number): Uint8Array {
    return this.sign(`rollback ${revision} ${previous}`, () => rollbackDocument(state, previous, revision));
  }

  private sign(cacheKey: string, text: () => string): Uint8Array {
    let env = this.cache.get(cacheKey);
    if (!env) {
      env = signEnvelopeBytes(new TextEncoder().encode(text()), this.state.kid, this.key);
      this.cache.set(cacheKey, env);
    }
    return env;
  }
}

async function publish(client: MqttClient, signer: Signer, state: RolloutState, action: Action): Promise<void> {
  if (action.kind === 'publish-target') {
    const envelope = signer.target(state);
    await publishMany(
      action.devices.map((id) => ({ id, envelope })),
      client,
    );
  } else {
    await publishMany(
      action.devices.map(({ id, previous }) => ({ id, envelope: signer.rollback(state, previous, action.revision) })),
      client,
    );
  }
}

/** Progress: redrawn block on a TTY, a line per change (at most every 2 s) otherwise, nothing with --json. */
class LiveOutput {
  private drawn = 0;
  private lastLine = '';
  private lastLineAt = 0;
  private lastPhase = '';
  constructor(private readonly opts: RolloutRunOptions) {}

  draw(s: RolloutSummary): void {
    if (this.opts.json) return;
    if (this.opts.tty) {
      const lines = renderLive(s);
      const clear = this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[0J` : '';
      this.opts.err(`${clear}${lines.join('\n')}\n`);
      this.drawn = lines.length;
      return;
    }
    const line = renderLine(s);
    const now = Date.now();
    if (s.phase !== this.lastPhase || (line !== this.lastLine && now - this.lastLineAt >= 2000)) {
      this.opts.err(`${line}\n`);
      this.lastLine = line;
      this.lastLineAt = now;
      this.lastPhase = s.phase;
    }
  }

  finish(s: RolloutSummary, interrupted: boolean, stateFile: string): void {
    if (this.opts.json) {
      this.opts.out(`${JSON.stringify({ ...s, ...(interrupted ? { interrupted: true } : {}) }, null, 2)}\n`);
      return;
    }
    if (interrupted) {
      this.opts.err(`\ninterrupted; the rollout is saved in ${stateFile}: resume it with \`resume ${stateFile}\`\n`);
      return;
    }
    this.opts.out(`\n${renderReport(s)}\n`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
