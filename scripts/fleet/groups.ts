/**
 * `--group G`: which gateways a command is about. Pure, given the file text
 * (if G names a file) and what the broker shows.
 *
 *   FILE                  device ids, one per line (# comments, blank lines ignored)
 *   gw-1,gw-2,gw-7        a comma list of device ids
 *   model=ec-iot-arm      a selector on what the gateways report; several terms
 *   model=ec-iot-arm,revision=7   (comma-separated) must all match
 *   all                   every gateway the broker knows of
 *
 * Selector keys: id (with * wildcards), model, arch, version (agent version),
 * revision (the deployment revision it runs; `none` for none), status
 * (online/offline), app (runs an app of that name).
 * Ids from a file or list keep their order (it is the rollout order); a
 * selector's matches are sorted by id.
 */
import { isTopicSegment } from '../../agent/src/cloud/topics.js';
import { invalid } from '../../agent/src/errors.js';
import type { DeviceInfo } from './fleet-view.js';

export type Group =
  | { kind: 'ids'; ids: string[]; source: string }
  | { kind: 'selector'; terms: Array<{ key: SelectorKey; value: string }>; source: string }
  | { kind: 'all'; source: string };

export const SELECTOR_KEYS = ['id', 'model', 'arch', 'version', 'revision', 'status', 'app'] as const;
export type SelectorKey = (typeof SELECTOR_KEYS)[number];

/** `fileText` is the content of the file G names, when it names one. */
export function parseGroup(text: string, fileText?: string): Group {
  if (fileText !== undefined) {
    const ids = fileText
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    return { kind: 'ids', ids: checkIds(ids, `group file ${text}`), source: text };
  }
  const t = text.trim();
  if (t === 'all' || t === '*') return { kind: 'all', source: t };
  const parts = t
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) throw invalid('--group is empty: give a file of device ids, a comma list or a selector');
  if (parts.some((p) => p.includes('='))) {
    const terms = parts.map((p) => {
      const eq = p.indexOf('=');
      const key = p.slice(0, eq).trim();
      const value = p.slice(eq + 1).trim();
      if (eq < 0 || !(SELECTOR_KEYS as readonly string[]).includes(key) || value === '') {
        throw invalid(
          `--group: ${JSON.stringify(p)} is not a selector term; use KEY=VALUE with KEY one of ${SELECTOR_KEYS.join(', ')}`,
        );
      }
      return { key: key as SelectorKey, value };
    });
    return { kind: 'selector', terms, source: t };
  }
  return { kind: 'ids', ids: checkIds(parts, '--group'), source: t };
}

function checkIds(ids: string[], where: string): string[] {
  const seen = new Set<string>();
  for (const id of ids) {
    if (!isTopicSegment(id)) {
      throw invalid(
        `${where}: ${JSON.stringify(id)} is not a device id (1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit)`,
      );
    }
    if (seen.has(id)) throw invalid(`${where} lists device ${id} twice`);
    seen.add(id);
  }
  if (ids.length === 0) throw invalid(`${where} lists no device ids`);
  return ids;
}

/** The group's device ids, given the gateways the broker knows of. */
export function resolveGroup(group: Group, known: readonly DeviceInfo[]): string[] {
  if (group.kind === 'ids') return group.ids;
  const matching = group.kind === 'all' ? known : known.filter((d) => group.terms.every((t) => matches(d, t)));
  return matching.map((d) => d.id).sort();
}

export function matches(d: DeviceInfo, term: { key: SelectorKey; value: string }): boolean {
  const agent = (d.reported?.agent ?? {}) as Record<string, unknown>;
  const status = d.status ?? {};
  const field = (name: string) => agent[name] ?? status[name === 'version' ? 'agentVersion' : name];
  switch (term.key) {
    case 'id':
      return wildcard(term.value).test(d.id);
    case 'model':
    case 'arch':
    case 'version':
      return String(field(term.key) ?? '') === term.value;
    case 'revision': {
      const rev = d.deployment?.revision;
      return term.value === 'none' ? rev === undefined : String(rev) === term.value;
    }
    case 'status':
      return (d.online === true ? 'online' : d.online === false ? 'offline' : 'unknown') === term.value;
    case 'app':
      return (d.apps ?? []).some((a) => a.name === term.value);
  }
}

function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}
