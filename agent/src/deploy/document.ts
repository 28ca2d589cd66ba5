/**
 * The deployment document: JSON text -> a typed, schema-checked document with
 * line-precise errors; the profile-dependent rules on top (document-rules.ts);
 * and one app of it as the runtime's AppSpec. Pure apart from reading the
 * schema file once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import {
  compileSchema,
  formatIssue,
  type LocatedJson,
  parseLocatedJson,
  schemaIssues,
  type ValidationIssue,
  withLocation,
} from '../config/json-document.js';
import type { FirmwareProfile } from '../config/profile-types.js';
import { invalid } from '../errors.js';
import type { AppSpec, DeviceGrant } from '../runtime/types.js';
import { type DeploymentCheckOptions, validateDeployment } from './document-rules.js';
import type { DeployedApp, DeploymentDocument } from './types.js';

export { type DeploymentCheckOptions, validateDeployment } from './document-rules.js';

const SCHEMA_FILE = 'deployment.schema.json';

/**
 * The published JSON Schema. Under tsx it sits next to this module; tsc does
 * not copy JSON into dist/, and dist/deploy and src/deploy are both two levels
 * below agent/, so the second candidate serves the built agent.
 */
export const DEPLOYMENT_SCHEMA_PATH: string = ((): string => {
  const candidates = [
    fileURLToPath(new URL(`./${SCHEMA_FILE}`, import.meta.url)),
    fileURLToPath(new URL(`../../src/deploy/${SCHEMA_FILE}`, import.meta.url)),
  ];
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
})();

interface Compiled {
  validate: ValidateFunction;
  /** Name maps (pointer -> what a valid key looks like), from the schema's own patterns. */
  appName: NameRule;
  envName: NameRule;
  streamName: NameRule;
  patternWords: Map<string, string>;
}

interface NameRule {
  test: (name: string) => boolean;
  words: string;
}

let compiled: Compiled | undefined;

/** Compiled on first use (a few ms), then shared. */
function schema(): Compiled {
  if (compiled) return compiled;
  const s = JSON.parse(readFileSync(DEPLOYMENT_SCHEMA_PATH, 'utf8')) as SchemaFile;
  const appName = s.$defs.appName;
  const app = s.$defs.app.properties;
  const nameRule = (pattern: string, maxLength: number | undefined, words: string): NameRule => {
    const re = new RegExp(pattern, 'u');
    return { test: (n) => re.test(n) && (maxLength === undefined || n.length <= maxLength), words };
  };
  const appWords = `lowercase letters, digits and single inner dashes (no "--"), at most ${appName.maxLength} characters`;
  compiled = {
    validate: compileSchema(s),
    appName: nameRule(appName.pattern, appName.maxLength, appWords),
    envName: nameRule(app.env.propertyNames.pattern, undefined, 'letters, digits and _, not starting with a digit'),
    streamName: nameRule(
      app.telemetry.propertyNames.pattern,
      undefined,
      'letters, digits, "." "_" "-", starting with a letter or digit, at most 64 characters',
    ),
    // ajv says `must match pattern "^/"`; a person wants to read what the pattern means.
    patternWords: new Map([
      [appName.pattern, `must be an app name: ${appWords}`],
      [app.workingDir.pattern, 'must be an absolute path'],
      [s.$defs.resources.properties.cpuset.pattern, 'must be a CPU list like "0-1" or "0,2"'],
      [s.$defs.volume.properties.name.pattern, 'must be lowercase letters, digits and inner dashes, at most 63'],
    ]),
  };
  return compiled;
}

/** The parts of deployment.schema.json this module reads. */
interface SchemaFile {
  $defs: {
    appName: { pattern: string; maxLength: number };
    app: {
      properties: {
        env: { propertyNames: { pattern: string } };
        telemetry: { propertyNames: { pattern: string } };
        workingDir: { pattern: string };
      };
    };
    resources: { properties: { cpuset: { pattern: string } } };
    volume: { properties: { name: { pattern: string } } };
  };
}

/**
 * Pure: parse and schema-check a deployment document. Throws one `invalid`
 * GantryError listing every issue as `source:line:col: /pointer: message`
 * (details: the ValidationIssue list). Profile rules are validateDeployment's.
 */
export function parseDeployment(text: string, source: string): DeploymentDocument {
  return parseLocated(text, source).doc;
}

/**
 * parseDeployment + validateDeployment, with the rule issues located in the
 * text too: what `gantry deploy FILE` and the cloud intake want.
 */
export function checkDeployment(
  text: string,
  source: string,
  profile: FirmwareProfile,
  opts: DeploymentCheckOptions = {},
): DeploymentDocument {
  const { doc, located } = parseLocated(text, source);
  const issues = validateDeployment(doc, profile, opts).map((i) => withLocation(i, located));
  if (issues.length > 0) throw invalidDocument(source, issues);
  return doc;
}

function parseLocated(text: string, source: string): { doc: DeploymentDocument; located: LocatedJson } {
  const parsed = parseLocatedJson(text);
  if (!parsed.ok) throw invalidDocument(source, [parsed.issue]);
  const issues = shapeIssues(parsed.doc);
  if (issues.length > 0) throw invalidDocument(source, issues);
  return { doc: parsed.doc.value as DeploymentDocument, located: parsed.doc };
}

function invalidDocument(source: string, issues: ValidationIssue[]): Error {
  const lines = issues.map((i) => `  ${formatIssue(source, i)}`).join('\n');
  return invalid(`deployment ${source} is invalid:\n${lines}`, { details: issues });
}

/**
 * Schema issues, with two repairs of ajv's wording: a bad key of a map (app,
 * env or stream name) is reported at the key itself rather than at the map,
 * and known patterns are said in words.
 */
function shapeIssues(doc: LocatedJson): ValidationIssue[] {
  const s = schema();
  const nameIssues: ValidationIssue[] = [];
  const mapPointers = new Set<string>();
  const checkKeys = (map: unknown, pointer: string, rule: NameRule, what: string) => {
    if (!isObject(map)) return;
    mapPointers.add(pointer);
    for (const key of Object.keys(map)) {
      if (!rule.test(key)) {
        const issue = {
          path: `${pointer}/${escapePointer(key)}`,
          message: `${what} "${key}" is not valid: ${rule.words}`,
        };
        nameIssues.push(withLocation(issue, doc, true));
      }
    }
  };
  const apps = isObject(doc.value) ? doc.value.apps : undefined;
  checkKeys(apps, '/apps', s.appName, 'app name');
  if (isObject(apps)) {
    for (const [name, app] of Object.entries(apps)) {
      if (!isObject(app)) continue;
      const at = `/apps/${escapePointer(name)}`;
      checkKeys(app.env, `${at}/env`, s.envName, 'environment variable name');
      checkKeys(app.telemetry, `${at}/telemetry`, s.streamName, 'telemetry stream name');
    }
  }
  const isNameIssue = (i: ValidationIssue) =>
    mapPointers.has(i.path) &&
    /^(property name must be valid|must match pattern|must NOT have more than)/.test(i.message);
  const rest = schemaIssues(s.validate, doc)
    .filter((i) => !isNameIssue(i))
    .map((i) => {
      const pattern = /^must match pattern "(.*)"$/.exec(i.message)?.[1];
      const words = pattern === undefined ? undefined : s.patternWords.get(pattern);
      return words === undefined ? i : { ...i, message: words };
    });
  return [...nameIssues, ...rest];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const escapePointer = (seg: string): string => seg.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Pure: the runtime's AppSpec for one app of a (validated) document, to be
 * created as `container` from `imageRef` (the store's ref for the resolved
 * image). Passthrough grants become device nodes from the profile; broker
 * grants and sensors stay with the eSDK server; config, telemetry, dependsOn
 * and update are not the container's business. GANTRY_APP names the app, not
 * the container (which may be <app>--b during a start-then-stop update).
 */
export function deploymentToAppSpec(
  appName: string,
  app: DeployedApp,
  profile: FirmwareProfile,
  container: string,
  imageRef: string,
): AppSpec {
  const devices: DeviceGrant[] = [];
  for (const grant of app.devices ?? []) {
    if (grant.mode !== 'passthrough') continue;
    const port = profile.serialPorts?.find((s) => s.name === grant.device);
    if (!port)
      throw invalid(
        `app ${appName}: passthrough device ${grant.device} is not a serial port of profile ${profile.model}`,
      );
    devices.push({ path: port.path, access: grant.access });
  }
  const spec: AppSpec = { name: container, image: imageRef, env: { ...app.env, GANTRY_APP: appName } };
  if (app.entrypoint !== undefined) spec.entrypoint = [...app.entrypoint];
  if (app.command !== undefined) spec.command = [...app.command];
  if (app.workingDir !== undefined) spec.workingDir = app.workingDir;
  if (app.user !== undefined) spec.user = app.user;
  if (app.resources !== undefined) spec.resources = { ...app.resources };
  if (devices.length > 0) spec.devices = devices;
  if (app.network !== undefined) spec.network = app.network;
  if (app.readOnlyRootfs !== undefined) spec.readOnlyRootfs = app.readOnlyRootfs;
  if (app.restart !== undefined) spec.restart = { ...app.restart };
  if (app.healthCheck !== undefined) spec.healthCheck = { ...app.healthCheck, command: [...app.healthCheck.command] };
  if (app.volumes !== undefined) spec.volumes = app.volumes.map((v) => ({ ...v }));
  return spec;
}
