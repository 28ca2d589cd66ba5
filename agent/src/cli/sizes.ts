import { invalid } from '../errors.js';

const UNITS: Record<string, number> = {
  '': 1 / (1024 * 1024),
  b: 1 / (1024 * 1024),
  k: 1 / 1024,
  ki: 1 / 1024,
  kb: 1 / 1024,
  m: 1,
  mi: 1,
  mb: 1,
  g: 1024,
  gi: 1024,
  gb: 1024,
};

/** Pure: "64Mi", "64m", "1G", "65536k", "134217728" (bytes) -> MiB, as docker and kubectl users write them. */
export function parseMemoryMiB(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const factor = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || factor === undefined) throw invalid(`${flag}: "${text}" is not a size (try 64Mi, 512M, 1G)`);
  const mib = Number(m[1]) * factor;
  if (!(mib >= 1)) throw invalid(`${flag}: ${text} is less than 1 MiB`);
  return Math.round(mib);
}
