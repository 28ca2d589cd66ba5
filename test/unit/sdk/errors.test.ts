import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES } from '../../../agent/src/esdk/frame.js';
import {
  BusyError,
  DeniedError,
  errorFromWire,
  GantryError,
  ProtocolError,
  TimeoutError,
  UnavailableError,
} from '../../../sdk/src/errors.js';

const test = suite('sdk errors');

test('every agent error code has its class, with code, message and data', () => {
  for (const code of ERROR_CODES) {
    const e = errorFromWire({ code, message: `m-${code}`, data: { x: 1 } });
    assert.instance(e, GantryError);
    assert.is(e.code, code);
    assert.is(e.message, `m-${code}`);
    assert.equal(e.data, { x: 1 });
    assert.not.instance(e, ProtocolError, code);
  }
  assert.instance(errorFromWire({ code: 'denied', message: '' }), DeniedError);
  assert.instance(errorFromWire({ code: 'busy', message: '' }), BusyError);
  assert.instance(errorFromWire({ code: 'timeout', message: '' }), TimeoutError);
  assert.instance(errorFromWire({ code: 'unavailable', message: '' }), UnavailableError);
  assert.is(new DeniedError('x').name, 'DeniedError');
});

test('unknown codes and junk are ProtocolError', () => {
  for (const wire of [{ code: 'weird', message: 'm' }, null, 'text', { code: 'constructor' }, { code: '__proto__' }])
    assert.instance(errorFromWire(wire), ProtocolError);
});

test.run();
