import type { DeployService } from '../deploy/service.js';
import { isGantryError } from '../errors.js';
import type { DeploymentOutcome } from './events.js';
import type { DeploymentSink } from './intake.js';
import type { DeploymentReport } from './reported.js';

/** The cloud intake's view of deployments: documents go through the same checks and apply as `gantry deploy`. */
export function deploymentSink(deploy: DeployService): DeploymentSink {
  return {
    // The highest accepted, rolled-back ones included: a revision once tried never comes back as new.
    currentRevision: () => deploy.highestRevision(),
    async apply(doc, source) {
      try {
        const r = await deploy.submit({ value: doc, source: `desired revision from the ${source}` }, 'cloud');
        const outcome: DeploymentOutcome = r.outcome === 'superseded' ? 'failed' : r.outcome;
        return { revision: r.revision, outcome, reasons: r.reasons };
      } catch (e) {
        // invalid documents are the intake's "rejected"; a revision not above the highest is refused here.
        if (isGantryError(e) && e.kind === 'failed-precondition') {
          const revision =
            typeof doc === 'object' && doc !== null ? Number((doc as { revision?: unknown }).revision) : 0;
          return { revision, outcome: 'refused', reasons: [e.message] };
        }
        throw e;
      }
    },
  };
}

/** Where deployments stand, for the reported state. */
export function deploymentReport(deploy: DeployService): DeploymentReport {
  const st = deploy.status();
  const newest = deploy.list(1)[0];
  const report: DeploymentReport = { applying: st.applying };
  if (st.lastGoodRevision !== undefined) report.revision = st.lastGoodRevision;
  if (st.targetRevision !== undefined) report.target = st.targetRevision;
  if (newest) {
    report.highest = newest.revision;
    if (newest.status !== 'applying')
      report.last = { revision: newest.revision, status: newest.status, reasons: newest.reasons };
  }
  return report;
}
