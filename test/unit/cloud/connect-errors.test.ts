import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { describeConnectError } from '../../../agent/src/cloud/connect-errors.js';
import { isGantryError } from '../../../agent/src/errors.js';

const test = suite('cloud: connect errors an operator can act on');
const URL = 'mqtts://broker.example:8883';

const withCode = (message: string, code: string | number) => Object.assign(new Error(message), { code });

test('each failure names the broker, its cause and what to check', () => {
  const cases: Array<[Error, 'denied' | 'unavailable', RegExp]> = [
    [
      withCode('Connection refused: Not authorized', 135),
      'denied',
      /refused the connection: .*check cloud\.username\/password/,
    ],
    [withCode('Connection refused: Bad username or password', 4), 'denied', /check cloud\.username/],
    [withCode('Connection refused: Server unavailable', 136), 'unavailable', /reason code 136/],
    [withCode('connect ECONNREFUSED 127.0.0.1:8883', 'ECONNREFUSED'), 'unavailable', /refused the TCP connection/],
    [
      withCode('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'),
      'denied',
      /not trusted .*cloud\.caFile/,
    ],
    [
      withCode("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'),
      'denied',
      /does not name this host/,
    ],
    [
      new Error('error:0A00045C:SSL routines::tlsv13 alert certificate required'),
      'denied',
      /TLS alert "certificate required".*cloud\.certFile/,
    ],
    [new Error('connack timeout'), 'unavailable', /sent no CONNACK in time/],
    [new Error('Keepalive timeout'), 'unavailable', /stopped answering pings/],
    [withCode('socket hang up', 'ECONNRESET'), 'unavailable', /socket hang up \(ECONNRESET\)/],
  ];
  for (const [error, kind, message] of cases) {
    const e = describeConnectError(error, URL);
    assert.ok(isGantryError(e, kind), `${error.message}: ${e.kind}`);
    assert.match(e.message, message);
    assert.match(e.message, /mqtts:\/\/broker\.example:8883/);
    assert.is(e.cause, error);
  }
});

test.run();
