import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, invalid, notFound } from '../errors.js';
import {
  compileSchema,
  formatIssue,
  type LocatedJson,
  parseLocatedJson,
  schemaIssues,
  type ValidationIssue,
  withLocation,
} from './json-document.js';
import { profileRuleIssues } from './profile-rules.js';
import type { FirmwareProfile } from './profile-types.js';

export type { FirmwareProfile } from './profile-types.js';

/**
 * The profiles shipped with the agent. src/config and dist/config are both
 * three levels below the repo root, so one relative URL serves tsx and tsc.
 */
export const BUNDLED_PROFILES_DIR = path.resolve(new URL('../../../firmware-profiles', import.meta.url).pathname);

export type ProfileCheck =
  | { ok: true; profile: FirmwareProfile; issues: [] }
  | { ok: false; issues: ValidationIssue[] };

/** Validates profile texts; compiles the schema once. */
export class ProfileValidator {
  private readonly validate;

  constructor(schema: object) {
    this.validate = compileSchema(schema);
  }

  static async load(schemaPath = path.join(BUNDLED_PROFILES_DIR, 'schema.json')): Promise<ProfileValidator> {
    return new ProfileValidator(JSON.parse(await readFile(schemaPath, 'utf8')) as object);
  }

  /** Pure: every issue of the text at once, schema first, then the semantic rules. */
  check(text: string): ProfileCheck {
    const parsed = parseLocatedJson(text);
    if (!parsed.ok) return { ok: false, issues: [parsed.issue] };
    const doc: LocatedJson = parsed.doc;
    const shapeIssues = schemaIssues(this.validate, doc);
    if (shapeIssues.length > 0) return { ok: false, issues: shapeIssues };
    const profile = doc.value as FirmwareProfile;
    const ruleIssues = profileRuleIssues(profile).map((i) => withLocation(i, doc));
    if (ruleIssues.length > 0) return { ok: false, issues: ruleIssues };
    return { ok: true, profile, issues: [] };
  }
}

/**
 * `--profile` takes a file path (anything with a slash or a .json suffix) or a
 * model name looked up in `searchDirs` in order (the first hit wins).
 */
export function resolveProfilePath(nameOrFile: string, searchDirs: string[]): string[] {
  if (nameOrFile.includes('/') || nameOrFile.endsWith('.json')) return [path.resolve(nameOrFile)];
  return searchDirs.map((dir) => path.join(dir, `${nameOrFile}.json`));
}

export function defaultProfileDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = env.GANTRY_PROFILES_DIR ? [env.GANTRY_PROFILES_DIR] : [];
  return [...dirs, '/etc/gantry/profiles', BUNDLED_PROFILES_DIR];
}

/** Load and validate a profile; throws `invalid` listing every issue, or `not-found`. */
export async function loadProfile(
  nameOrFile: string,
  validator: ProfileValidator,
  searchDirs = defaultProfileDirs(),
): Promise<{ profile: FirmwareProfile; source: string }> {
  for (const candidate of resolveProfilePath(nameOrFile, searchDirs)) {
    let text: string;
    try {
      text = await readFile(candidate, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') continue;
      throw invalid(`cannot read firmware profile ${candidate}`, { cause: e });
    }
    const result = validator.check(text);
    if (!result.ok) {
      const lines = result.issues.map((i) => `  ${formatIssue(candidate, i)}`).join('\n');
      throw invalid(`firmware profile ${candidate} is invalid:\n${lines}`, { details: result.issues });
    }
    return { profile: result.profile, source: candidate };
  }
  throw notFound(
    `firmware profile "${nameOrFile}" not found (looked in ${resolveProfilePath(nameOrFile, searchDirs).join(', ')})`,
  );
}
