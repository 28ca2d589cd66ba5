import type { ValidationIssue } from './json-document.js';
import type { FirmwareProfile } from './profile-types.js';

/**
 * Pure: the checks a JSON Schema cannot express. Runs only on a document that
 * already passed the schema, so shapes can be trusted here.
 */
export function profileRuleIssues(p: FirmwareProfile): ValidationIssue[] {
  return [...nameIssues(p), ...budgetIssues(p), ...archIssues(p), ...serialIssues(p), ...gpioIssues(p)];
}

/** Logical names share one namespace: a deployment grants "rs485-1" without saying what kind it is. */
function nameIssues(p: FirmwareProfile): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const firstSeen = new Map<string, string>();
  const named: Array<[string, string]> = [
    ...(p.serialPorts ?? []).map((s, i): [string, string] => [s.name, `/serialPorts/${i}/name`]),
    ...(p.gpio?.lines ?? []).map((l, i): [string, string] => [l.name, `/gpio/lines/${i}/name`]),
    ...(p.sensors ?? []).map((s, i): [string, string] => [s.name, `/sensors/${i}/name`]),
  ];
  for (const [name, path] of named) {
    const earlier = firstSeen.get(name);
    if (earlier) issues.push({ path, message: `device name "${name}" is already used at ${earlier}` });
    else firstSeen.set(name, path);
  }
  return issues;
}

function budgetIssues(p: FirmwareProfile): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const { appBudget: b, agentReserve: r } = p;
  if (b.memoryMiB + r.memoryMiB > p.memory.totalMiB) {
    issues.push({
      path: '/appBudget/memoryMiB',
      message: `app budget ${b.memoryMiB} MiB plus agent reserve ${r.memoryMiB} MiB exceeds the board's ${p.memory.totalMiB} MiB`,
    });
  }
  if (p.cpu && b.cpus + r.cpus > p.cpu.cores) {
    issues.push({
      path: '/appBudget/cpus',
      message: `app budget ${b.cpus} CPUs plus agent reserve ${r.cpus} exceeds the board's ${p.cpu.cores} cores`,
    });
  }
  for (const key of ['memoryMiB', 'cpus', 'pids'] as const) {
    if (b.defaults[key] > b[key]) {
      issues.push({
        path: `/appBudget/defaults/${key}`,
        message: `default ${b.defaults[key]} is larger than the whole app budget ${b[key]}`,
      });
    }
  }
  return issues;
}

function archIssues(p: FirmwareProfile): ValidationIssue[] {
  const { architecture, variant } = p.arch;
  if (architecture === 'arm' && (variant === undefined || variant === 'v8')) {
    return [{ path: '/arch/variant', message: '32-bit arm needs a variant of v5, v6 or v7' }];
  }
  if (architecture === 'arm64' && variant !== undefined && variant !== 'v8') {
    return [{ path: '/arch/variant', message: 'arm64 only has variant v8' }];
  }
  if (architecture !== 'arm' && architecture !== 'arm64' && variant !== undefined) {
    return [{ path: '/arch/variant', message: `${architecture} has no variants` }];
  }
  return [];
}

function serialIssues(p: FirmwareProfile): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const paths = new Map<string, number>();
  (p.serialPorts ?? []).forEach((s, i) => {
    const at = `/serialPorts/${i}`;
    if (s.defaultBaud !== undefined && !s.baudRates.includes(s.defaultBaud)) {
      issues.push({ path: `${at}/defaultBaud`, message: `${s.defaultBaud} is not one of this port's baudRates` });
    }
    if (s.rs485 && s.kind !== 'rs485') {
      issues.push({ path: `${at}/rs485`, message: `rs485 settings on a port of kind ${s.kind}` });
    }
    const earlier = paths.get(s.path);
    if (earlier !== undefined) {
      issues.push({ path: `${at}/path`, message: `${s.path} is already used by /serialPorts/${earlier}` });
    } else paths.set(s.path, i);
  });
  return issues;
}

function gpioIssues(p: FirmwareProfile): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const lines = new Map<number, number>();
  (p.gpio?.lines ?? []).forEach((l, i) => {
    const earlier = lines.get(l.line);
    if (earlier !== undefined) {
      issues.push({
        path: `/gpio/lines/${i}/line`,
        message: `line ${l.line} is already used by /gpio/lines/${earlier}`,
      });
    } else lines.set(l.line, i);
  });
  return issues;
}
