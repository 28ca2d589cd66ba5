/**
 * A stand-in agent for the survival test: creates and starts the containers
 * it is given, prints their pids as one JSON line, then idles until killed.
 * argv[2]: {"stateDir": "...", "containers": [{"id", "bundle", "logPath"}]}
 */
import { detectCgroupLayout } from '../../../../agent/src/host/cgroups.js';
import { ConmonRuntime } from '../../../../agent/src/runtime/driver/index.js';

interface Job {
  stateDir: string;
  containers: Array<{ id: string; bundle: string; logPath: string }>;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const runtime = new ConmonRuntime({ stateDir: job.stateDir, cgroupLayout: await detectCgroupLayout() });
const started: Array<{ id: string; pid: number; conmonPid: number | undefined }> = [];
for (const c of job.containers) {
  const st = await runtime.create(c.id, c.bundle, { logPath: c.logPath, logSizeMax: 1024 * 1024 });
  await runtime.start(c.id);
  started.push({ id: c.id, pid: st.pid, conmonPid: st.conmonPid });
}
process.stdout.write(`${JSON.stringify({ agentPid: process.pid, started })}\n`);
setInterval(() => undefined, 60_000);
