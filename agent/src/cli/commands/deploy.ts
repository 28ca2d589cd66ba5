import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RawJson } from '../../api/client.js';
import type { ApplyResult, DeployEvent } from '../../deploy/service.js';
import type { DeploymentRecord } from '../../deploy/store.js';
import type { Step } from '../../deploy/types.js';
import { messageOf } from '../../errors.js';
import type { Command } from '../command.js';
import { type CliContext, EXIT } from '../context.js';
import { renderTable } from '../output.js';
import { PullProgress } from '../progress.js';

export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'pull':
      return `pull ${s.image} (${s.app})`;
    case 'create':
      return `create ${s.container} (${s.reason})`;
    case 'stop':
    case 'remove':
      return `${s.kind} ${s.container} (${s.reason})`;
    default:
      return `${s.kind} ${s.container}`;
  }
}

/** Prints apply events as lines (pull progress redrawn in place on a TTY); returns the final result. */
async function follow(ctx: CliContext, events: AsyncIterable<DeployEvent>): Promise<ApplyResult | undefined> {
  const tty = process.stdout.isTTY === true;
  const pulls = new Map<string, PullProgress>();
  let result: ApplyResult | undefined;
  for await (const e of events) {
    if (ctx.json) {
      if (e.type === 'result') result = e.result;
      continue;
    }
    switch (e.type) {
      case 'phase':
        ctx.out(
          e.phase === 'rolling-back'
            ? `Revision ${e.revision} failed; rolling back to revision ${e.target}`
            : e.phase === 'health-gate'
              ? `Waiting for revision ${e.revision} to be healthy`
              : `Applying revision ${e.revision}`,
        );
        break;
      case 'step':
        if (e.state === 'done') ctx.out(`  ✓ ${describeStep(e.step)}`);
        else if (e.state === 'failed') ctx.out(`  ✗ ${describeStep(e.step)}: ${e.error}`);
        else if (!tty) ctx.out(`  … ${describeStep(e.step)}`);
        break;
      case 'pull': {
        let p = pulls.get(e.image);
        if (!p) {
          p = new PullProgress((t) => process.stdout.write(t.replace(/^/gm, '    ')), tty);
          pulls.set(e.image, p);
        }
        if (tty) p.onEvent(e.event);
        break;
      }
      case 'health':
        if (e.state !== 'waiting')
          ctx.out(`  ${e.state === 'healthy' ? '✓' : '✗'} ${e.app} ${e.state}${e.reason ? `: ${e.reason}` : ''}`);
        break;
      case 'result':
        result = e.result;
        break;
    }
  }
  return result;
}

function report(ctx: CliContext, result: ApplyResult | undefined): number {
  if (!result) {
    ctx.err('gantry: the agent ended the apply without a result');
    return EXIT.failure;
  }
  if (ctx.json) ctx.out(JSON.stringify(result, null, 2));
  else if (result.outcome === 'applied') ctx.out(`Revision ${result.revision} applied`);
  else {
    const head =
      result.outcome === 'rolled-back'
        ? `Revision ${result.revision} failed and was rolled back to revision ${result.runningRevision}`
        : `Revision ${result.revision} ${result.outcome}`;
    ctx.err([head, ...result.reasons.map((r) => `  - ${r}`)].join('\n'));
  }
  return result.outcome === 'applied' ? EXIT.ok : EXIT.failure;
}

export const deployCommand: Command = {
  path: ['deploy'],
  summary: 'Apply a deployment document (health-gated, rolled back on failure)',
  args: 'FILE',
  options: { 'dry-run': { type: 'boolean' } },
  optionHelp: ['--dry-run   print the plan against what runs now; change nothing'],
  async run(ctx, values, args) {
    const [file] = args;
    if (!file || args.length > 1) {
      ctx.err('gantry deploy: name exactly one deployment document');
      return EXIT.usage;
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      ctx.err(`gantry deploy: ${messageOf(e)}`);
      return EXIT.failure;
    }
    // Sent as written: the agent's errors then point at lines of this file.
    const doc = new RawJson(text);
    const source = `source=${encodeURIComponent(path.basename(file))}`;
    if (values['dry-run']) {
      const plan = await ctx.api().post<{ revision: number; steps: Step[] }>(`/v1/deployments?dryRun=1&${source}`, doc);
      if (ctx.json) ctx.out(JSON.stringify(plan, null, 2));
      else {
        // A create starts the container too: the plan's start right after it is already done then.
        const steps = plan.steps.filter(
          (s, i) => !(s.kind === 'start' && plan.steps[i - 1]?.kind === 'create' && plan.steps[i - 1]?.app === s.app),
        );
        const changes = steps.filter((s) => s.kind !== 'keep');
        ctx.out(
          `Plan for revision ${plan.revision}: ${changes.length === 0 ? 'no changes' : `${changes.length} step(s)`}`,
        );
        for (const s of steps) ctx.out(`  ${describeStep(s)}`);
      }
      return EXIT.ok;
    }
    return report(ctx, await follow(ctx, ctx.api(0).stream<DeployEvent>('POST', `/v1/deployments?${source}`, doc)));
  },
};

export const rollbackCommand: Command = {
  path: ['rollback'],
  summary: 'Return to the applied revision before the current one',
  options: {},
  async run(ctx) {
    return report(ctx, await follow(ctx, ctx.api(0).stream<DeployEvent>('POST', '/v1/deployments/rollback')));
  },
};

export const deploymentsCommand: Command = {
  path: ['deployments'],
  summary: 'Deployment history: revisions, outcomes and reasons',
  options: {},
  async run(ctx) {
    const st = await ctx.api().get<{
      targetRevision?: number;
      lastGoodRevision?: number;
      applying: boolean;
      history: DeploymentRecord[];
    }>('/v1/deployments');
    if (ctx.json) {
      ctx.out(JSON.stringify(st, null, 2));
      return EXIT.ok;
    }
    ctx.out(
      `Target revision: ${st.targetRevision ?? '-'}${st.applying ? ' (applying)' : ''}; last good: ${st.lastGoodRevision ?? '-'}`,
    );
    ctx.out(
      renderTable(
        ['REVISION', 'STATUS', 'SOURCE', 'APPS', 'RECEIVED', 'REASONS'],
        st.history.map((d) => [
          String(d.revision),
          d.status,
          d.source,
          Object.keys(d.document.apps).join(','),
          d.receivedAt,
          d.reasons.join('; '),
        ]),
      ),
    );
    return EXIT.ok;
  },
};
