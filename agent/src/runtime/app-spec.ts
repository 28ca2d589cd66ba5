import { invalid } from '../errors.js';
import type { AppSpec } from './types.js';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Pure: check an app spec from the API (`gantry run`), naming the field that
 * is wrong. The deployment document (its own schema) will feed the same type.
 */
export function validateAppSpec(v: unknown): AppSpec {
  const s = v as Partial<AppSpec> | null;
  if (typeof s !== 'object' || s === null) throw invalid('app spec must be a JSON object');
  const bad = (field: string, why: string): never => {
    throw invalid(`app spec ${field}: ${why}`);
  };
  if (typeof s.name !== 'string' || !NAME.test(s.name))
    bad('name', 'lowercase letters, digits and inner dashes, at most 63');
  if (s.app !== undefined && (typeof s.app !== 'string' || !NAME.test(s.app)))
    bad('app', 'lowercase letters, digits and inner dashes, at most 63');
  if (typeof s.image !== 'string' || s.image === '') bad('image', 'is required');
  if (s.entrypoint !== undefined && !isStringArray(s.entrypoint)) bad('entrypoint', 'must be an array of strings');
  if (s.command !== undefined && !isStringArray(s.command)) bad('command', 'must be an array of strings');
  if (s.env !== undefined && (typeof s.env !== 'object' || Object.values(s.env).some((x) => typeof x !== 'string')))
    bad('env', 'must map names to strings');
  if (s.network !== undefined && s.network !== 'none' && s.network !== 'host') bad('network', 'must be none or host');
  const r = s.resources;
  if (r !== undefined) {
    for (const [k, val] of Object.entries(r)) {
      if (k === 'cpuset') {
        if (typeof val !== 'string' || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(val))
          bad('resources.cpuset', 'must look like 0-1 or 0,2');
      } else if (typeof val !== 'number' || !(val > 0)) bad(`resources.${k}`, 'must be a positive number');
    }
  }
  for (const [i, d] of (s.devices ?? []).entries()) {
    if (typeof d?.path !== 'string' || !d.path.startsWith('/dev/'))
      bad(`devices[${i}].path`, 'must be a device under /dev/');
    if (d.access !== undefined && !['r', 'rw', 'rwm'].includes(d.access))
      bad(`devices[${i}].access`, 'must be r, rw or rwm');
  }
  const restart = s.restart;
  if (restart !== undefined && !['always', 'on-failure', 'never'].includes(restart?.policy))
    bad('restart.policy', 'must be always, on-failure or never');
  if (s.healthCheck !== undefined && (!isStringArray(s.healthCheck.command) || s.healthCheck.command.length === 0))
    bad('healthCheck.command', 'must be a non-empty array of strings');
  for (const [i, vol] of (s.volumes ?? []).entries()) {
    if (typeof vol?.name !== 'string' || !NAME.test(vol.name))
      bad(`volumes[${i}].name`, 'lowercase letters, digits and inner dashes');
    if (typeof vol.target !== 'string' || !vol.target.startsWith('/'))
      bad(`volumes[${i}].target`, 'must be an absolute path');
  }
  return s as AppSpec;
}
