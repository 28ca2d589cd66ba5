import { sign } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assembleEnvelope,
  EnvelopeError,
  MAX_ENVELOPE_BYTES,
  signEnvelope,
  signEnvelopeBytes,
  signedMessage,
  verifyEnvelope,
} from '../../../agent/src/cloud/envelope.js';
import {
  generateKeyPair,
  keyFingerprint,
  parsePrivateKeyPem,
  parsePublicKeyPem,
} from '../../../agent/src/cloud/keys.js';
import { decodePayload, encodePayload } from '../../../agent/src/cloud/payload.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { testSigner } from '../../helpers/envelope.js';

const test = suite('cloud: signed deployment envelope');

const doc = { revision: 7, apps: { 'meter-reader': { image: `registry.local/meter@sha256:${'a'.repeat(64)}` } } };
const signer = testSigner('fleet-2024');
const trusted = new Map([[signer.kid, signer.keys.publicKey]]);

function refusal(fn: () => unknown): EnvelopeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof EnvelopeError) return e;
    throw e;
  }
  throw new Error('expected the envelope to be refused');
}

test('a signed document verifies and comes back equal', () => {
  const env = signEnvelope(doc, signer.kid, signer.keys.privateKey);
  const v = verifyEnvelope(env, trusted);
  assert.equal(v.doc, doc);
  assert.is(v.kid, 'fleet-2024');
  assert.is(new TextDecoder().decode(v.docBytes), JSON.stringify(doc));
});

test('the envelope is a plain CBOR map with the documented fields', () => {
  const env = decodePayload(signer.sign(doc), 'envelope') as Record<string, unknown>;
  assert.equal(Object.keys(env).sort(), ['alg', 'doc', 'kid', 'sig', 'v']);
  assert.is(env.v, 1);
  assert.is(env.alg, 'ed25519');
  assert.ok(env.doc instanceof Uint8Array);
  assert.is((env.sig as Uint8Array).byteLength, 64);
});

test('flipping any single byte of the signed document is a bad signature', () => {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const sig = sign(null, signedMessage(bytes), signer.keys.privateKey);
  for (let i = 0; i < bytes.length; i++) {
    const altered = Uint8Array.from(bytes);
    altered[i] = (altered[i] ?? 0) ^ 0x20;
    const e = refusal(() => verifyEnvelope(assembleEnvelope(signer.kid, altered, sig), trusted));
    // A flip can make the bytes non-UTF-8 too; the signature is checked first, so it is always bad-signature.
    assert.is(e.reason, 'bad-signature', `byte ${i}`);
  }
  assert.is(signer.tampered(doc).length > 0, true);
  assert.is(refusal(() => verifyEnvelope(signer.tampered(doc), trusted)).reason, 'bad-signature');
});

test('a tampered signature is a bad signature, and the error is a denied GantryError', () => {
  const env = decodePayload(signer.sign(doc), 'envelope') as { doc: Uint8Array; sig: Uint8Array };
  const sig = Uint8Array.from(env.sig);
  sig[10] = (sig[10] ?? 0) ^ 0xff;
  const e = refusal(() => verifyEnvelope(assembleEnvelope(signer.kid, env.doc, sig), trusted));
  assert.is(e.reason, 'bad-signature');
  assert.is(e.kid, signer.kid);
  assert.ok(isGantryError(e, 'denied'));
});

test('a signature without the context prefix does not verify (domain separation)', () => {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  const bare = sign(null, bytes, signer.keys.privateKey);
  assert.is(refusal(() => verifyEnvelope(assembleEnvelope(signer.kid, bytes, bare), trusted)).reason, 'bad-signature');
});

test('a good signature by a key that is not trusted is unknown-key; a trusted kid with another key is bad-signature', () => {
  const stranger = testSigner('someone-else');
  const e = refusal(() => verifyEnvelope(stranger.sign(doc), trusted));
  assert.is(e.reason, 'unknown-key');
  assert.is(e.kid, 'someone-else');
  const impostor = testSigner(signer.kid);
  assert.is(refusal(() => verifyEnvelope(impostor.sign(doc), trusted)).reason, 'bad-signature');
});

test('malformed envelopes are refused as malformed', () => {
  const good = decodePayload(signer.sign(doc), 'envelope') as Record<string, unknown>;
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array()],
    ['not CBOR', Buffer.from([0xff, 0x00])],
    ['truncated', signer.sign(doc).slice(0, 20)],
    ['trailing bytes', Buffer.concat([signer.sign(doc), Buffer.from([0x00])])],
    ['an array', encodePayload([1, 2, 3])],
    ['a JSON text', Buffer.from(JSON.stringify(doc))],
    ['wrong version', encodePayload({ ...good, v: 2 })],
    ['wrong alg', encodePayload({ ...good, alg: 'rsa' })],
    ['missing sig', encodePayload({ v: 1, kid: signer.kid, alg: 'ed25519', doc: good.doc })],
    ['extra field', encodePayload({ ...good, extra: true })],
    ['doc as text', encodePayload({ ...good, doc: JSON.stringify(doc) })],
    ['short sig', encodePayload({ ...good, sig: Buffer.alloc(10) })],
    ['kid with a slash', encodePayload({ ...good, kid: 'a/b' })],
    ['a record-extension tag', Buffer.from('d86901', 'hex')],
  ];
  for (const [what, bytes] of cases) {
    const e = refusal(() => verifyEnvelope(bytes, trusted));
    assert.is(e.reason, 'malformed', what);
    assert.ok(isGantryError(e, 'invalid'), what);
  }
});

test('signed bytes that are not JSON are malformed, after the signature check', () => {
  const garbage = Buffer.from([0xc3, 0x28, 0x7b]); // invalid UTF-8
  const sig = sign(null, signedMessage(garbage), signer.keys.privateKey);
  const e = refusal(() => verifyEnvelope(assembleEnvelope(signer.kid, garbage, sig), trusted));
  assert.is(e.reason, 'malformed');
  assert.match(e.message, /not UTF-8 JSON/);
});

test('an oversized envelope is refused before decoding', () => {
  const e = refusal(() => verifyEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1), trusted));
  assert.is(e.reason, 'malformed');
  assert.match(e.message, /over the/);
});

test('PEM keys round-trip; a non-ed25519 key is refused with the file named', () => {
  const kp = generateKeyPair();
  assert.match(kp.publicPem, /BEGIN PUBLIC KEY/);
  assert.match(kp.privatePem, /BEGIN PRIVATE KEY/);
  const pub = parsePublicKeyPem(kp.publicPem, 'pub.pem');
  const priv = parsePrivateKeyPem(kp.privatePem, 'key.pem');
  const env = signEnvelope(doc, 'k', priv);
  assert.equal(verifyEnvelope(env, new Map([['k', pub]])).doc, doc);
  assert.is(keyFingerprint(pub), keyFingerprint(kp.publicKey));
  assert.match(keyFingerprint(pub), /^[0-9a-f]{16}$/);
  assert.throws(
    () => parsePublicKeyPem('nope', 'fleet.pem'),
    (e: unknown) => isGantryError(e, 'invalid') && /fleet\.pem/.test(String(e)),
  );
});

test('the worked example in docs/mqtt-contract.md is what the code produces', () => {
  const priv = parsePrivateKeyPem(
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n',
    'example private key',
  );
  const pub = parsePublicKeyPem(
    '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n',
    'example public key',
  );
  const env = signEnvelopeBytes(new TextEncoder().encode('{"revision":1,"apps":{}}'), 'example-key', priv);
  const expected =
    'a5617601636b69646b6578616d706c652d6b657963616c67676564323535313963646f6358187b227265766973696f6e223a312c2261707073223a7b7d7d637369675840' +
    '889c64ad60e0ebfe17a615026e5e4602e4cc7933e345caafbc3040c08482e2b0b0909de955f9f94147c11fe23fdfa3cc735e6678186fd2c0370e8a15038c4d0f';
  assert.is(Buffer.from(env).toString('hex'), expected);
  assert.is(env.byteLength, 132);
  assert.equal(verifyEnvelope(Buffer.from(expected, 'hex'), new Map([['example-key', pub]])).doc, {
    revision: 1,
    apps: {},
  });
});

test.run();
