import { invalid } from '../../errors.js';

/**
 * One challenge of a `WWW-Authenticate` header (RFC 7235 §2.1, §4.1). The
 * scheme and parameter names are case-insensitive, so both are lowercased;
 * parameter values are kept as sent (quoted strings unescaped).
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
  /** The token68 form (`Basic dXNlcg==`), when the challenge carries one instead of parameters. */
  token68?: string;
}

// RFC 7230 §3.2.6: tchar; token68 adds "/" and trailing "=" padding (RFC 7235 §2.1).
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

/**
 * Pure: parse a `WWW-Authenticate` value into its challenges, in order.
 *
 * RFC 7235 §4.1: `1#challenge`, where `challenge = auth-scheme [ 1*SP (
 * token68 / #auth-param ) ]` and `auth-param = token BWS "=" BWS ( token /
 * quoted-string )`. The comma separates both challenges and the parameters
 * of one challenge, so after a comma a token followed by "=" is a parameter
 * and any other token starts a new challenge. Several header lines arrive
 * joined with ", ", which this grammar also covers.
 *
 * Throws `invalid` (with the column) on anything outside the grammar: an
 * unterminated quoted string, a control character, a parameter named twice in
 * one challenge (§2.2: "MUST only occur once"), a parameter with no scheme.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const p = new Cursor(header);
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  for (;;) {
    p.skipListSeparators();
    if (p.done()) break;
    const token = p.token();
    if (token === '') p.fail('expected an auth scheme or parameter name');
    const spaces = p.skipSpaces();
    if (p.peek() === '=' && current !== undefined) {
      // §2.1: a challenge carries token68 *or* parameters, never both.
      if (current.token68 !== undefined) p.fail('a challenge with token68 cannot also have parameters');
      addParam(p, current, token.toLowerCase());
      p.endOfElement();
      continue;
    }
    if (p.peek() === '=') p.fail(`parameter ${JSON.stringify(token)} comes before any auth scheme`);
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
    if (p.done() || p.peek() === ',') continue;
    if (spaces === 0) p.fail('expected a space after the auth scheme');
    readFirstOfChallenge(p, current);
  }
  if (out.length === 0) throw invalid('WWW-Authenticate header has no challenge');
  return out;
}

/** After `scheme 1*SP`: either one token68, or the first auth-param. */
function readFirstOfChallenge(p: Cursor, c: Challenge): void {
  const mark = p.pos;
  const t68 = p.token68();
  p.skipSpaces();
  if (t68 !== '' && (p.done() || p.peek() === ',')) {
    c.token68 = t68;
    return;
  }
  p.pos = mark;
  const name = p.token();
  if (name === '') p.fail('expected token68 or an auth parameter');
  p.skipSpaces();
  addParam(p, c, name.toLowerCase());
  p.endOfElement();
}

/** At `=` after a parameter name: read the value and store it. */
function addParam(p: Cursor, c: Challenge, name: string): void {
  p.expect('=');
  p.skipSpaces();
  let value: string;
  if (p.peek() === '"') value = p.quoted();
  else {
    value = p.token();
    if (value === '') p.fail(`parameter ${JSON.stringify(name)} has no value`);
  }
  if (Object.hasOwn(c.params, name)) p.fail(`parameter ${JSON.stringify(name)} appears twice in one challenge`);
  // defineProperty, not assignment: a parameter named "__proto__" must stay a plain key.
  Object.defineProperty(c.params, name, { value, enumerable: true, writable: true, configurable: true });
}

class Cursor {
  pos = 0;
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  fail(why: string): never {
    throw invalid(`malformed WWW-Authenticate header at column ${this.pos + 1}: ${why}`);
  }
  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected ${JSON.stringify(ch)}`);
    this.pos++;
  }
  skipSpaces(): number {
    const from = this.pos;
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
    return this.pos - from;
  }
  /** `#rule` lists allow empty elements and optional whitespace around commas (RFC 7230 §7). */
  skipListSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.pos++;
  }
  /** After an element: only whitespace, then a comma or the end. */
  endOfElement(): void {
    this.skipSpaces();
    if (!this.done() && this.peek() !== ',') this.fail('expected "," between parameters or challenges');
  }
  token(): string {
    const from = this.pos;
    while (!this.done() && TCHAR.test(this.peek())) this.pos++;
    return this.s.slice(from, this.pos);
  }
  token68(): string {
    const from = this.pos;
    while (!this.done() && TOKEN68_CHAR.test(this.peek())) this.pos++;
    if (this.pos === from) return '';
    while (this.peek() === '=') this.pos++;
    return this.s.slice(from, this.pos);
  }
  /** RFC 7230 §3.2.6 quoted-string: qdtext and quoted-pair; no control characters but HTAB. */
  quoted(): string {
    this.expect('"');
    let out = '';
    for (;;) {
      if (this.done()) this.fail('unterminated quoted string');
      const ch = this.peek();
      this.pos++;
      if (ch === '"') return out;
      if (ch === '\\') {
        if (this.done()) this.fail('unterminated quoted string');
        const escaped = this.peek();
        if (isControl(escaped)) this.fail('control character in quoted string');
        out += escaped;
        this.pos++;
        continue;
      }
      if (isControl(ch)) this.fail('control character in quoted string');
      out += ch;
    }
  }
}

function isControl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}
