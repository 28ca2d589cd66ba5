import { type AnyNode, type DocumentNode, evaluate, parse } from '@humanwhocodes/momoa';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/**
 * One problem in a JSON document, located both by JSON Pointer (RFC 6901, what
 * scripts and the API use) and by line/column (what a person editing the file
 * needs). Lines and columns are 1-based.
 */
export interface ValidationIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** A parsed JSON text that can answer "where is /a/0/b?". */
export interface LocatedJson {
  value: unknown;
  /** Where the value at `pointer` starts; with `atKey`, where its member name starts instead. */
  locate(pointer: string, atKey?: boolean): { line: number; column: number } | undefined;
}

export type ParseResult = { ok: true; doc: LocatedJson } | { ok: false; issue: ValidationIssue };

/** Pure: parse JSON text keeping an AST for locations. Syntax errors come back as an issue at path "". */
export function parseLocatedJson(text: string): ParseResult {
  let ast: DocumentNode;
  try {
    ast = parse(text, { mode: 'json' });
  } catch (e) {
    const err = e as { message?: string; line?: number; column?: number };
    const message = `invalid JSON: ${(err.message ?? String(e)).replace(/ \(\d+:\d+\)$/, '')}`;
    return typeof err.line === 'number' && typeof err.column === 'number'
      ? { ok: false, issue: { path: '', message, line: err.line, column: err.column } }
      : { ok: false, issue: { path: '', message } };
  }
  return {
    ok: true,
    doc: { value: evaluate(ast), locate: (pointer, atKey) => locatePointer(ast.body, pointer, atKey === true) },
  };
}

function locatePointer(root: AnyNode, pointer: string, atKey: boolean): { line: number; column: number } | undefined {
  let node: AnyNode = root;
  // The deepest node we could reach: a missing member is reported at its parent.
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  for (const [i, seg] of segments.entries()) {
    if (node.type === 'Object') {
      const member = node.members.find((m) => (m.name.type === 'String' ? m.name.value : m.name.name) === seg);
      if (!member) break;
      node = atKey && i === segments.length - 1 ? member : member.value;
    } else if (node.type === 'Array') {
      const element = node.elements[Number(seg)];
      if (!element) break;
      node = element.value;
    } else {
      break;
    }
  }
  return { line: node.loc.start.line, column: node.loc.start.column };
}

function unescapePointer(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

function escapePointer(seg: string): string {
  return seg.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Compile a JSON Schema (draft 2020-12) once; reuse the validator. */
export function compileSchema(schema: object): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  return ajv.compile(schema);
}

/** Pure: run a compiled schema over a located document and turn ajv's errors into issues. */
export function schemaIssues(validate: ValidateFunction, doc: LocatedJson): ValidationIssue[] {
  if (validate(doc.value)) return [];
  const issues: ValidationIssue[] = [];
  for (const err of validate.errors ?? []) {
    const issue = issueFromAjv(err);
    // An unknown property is best shown at its name, everything else at the offending value.
    if (issue) issues.push(withLocation(issue, doc, err.keyword === 'additionalProperties'));
  }
  return dedupe(issues);
}

export function withLocation(issue: ValidationIssue, doc: LocatedJson, atKey = false): ValidationIssue {
  const loc = doc.locate(issue.path, atKey);
  return loc ? { ...issue, ...loc } : issue;
}

function issueFromAjv(err: ErrorObject): ValidationIssue | undefined {
  const at = err.instancePath;
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'if': // the failing "then" branch carries the useful message
      return undefined;
    case 'required':
      return { path: `${at}/${escapePointer(String(p.missingProperty))}`, message: 'is required' };
    case 'additionalProperties':
      return {
        path: `${at}/${escapePointer(String(p.additionalProperty))}`,
        message: 'is not a known property',
      };
    case 'enum':
      return {
        path: at,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return { path: at, message: `must be ${JSON.stringify(p.allowedValue)}` };
    default:
      return { path: at, message: err.message ?? `fails ${err.keyword}` };
  }
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `file:12:5: /serialPorts/0/baudRates: must be array` — the form editors and CI logs link. */
export function formatIssue(source: string, issue: ValidationIssue): string {
  const where = issue.line === undefined ? source : `${source}:${issue.line}:${issue.column ?? 1}`;
  return `${where}: ${issue.path || '(document)'}: ${issue.message}`;
}
