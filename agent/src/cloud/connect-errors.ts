import { denied, errnoCode, type GantryError, unavailable } from '../errors.js';

/**
 * Turns what mqtt.js and node:tls report about a failed connection into one
 * sentence an operator can act on. Pure.
 */

/** MQTT 3.1.1 CONNACK return codes and MQTT 5 CONNACK reason codes that mean "fix your credentials". */
const AUTH_CODES = new Set([4, 5, 134, 135, 138, 140]);
/** "I do not speak this protocol version": 1 from a 3.1.1 broker, 0x84 from an MQTT 5 one. */
export const UNSUPPORTED_PROTOCOL_CODES = new Set([1, 132]);

const UNTRUSTED_SERVER_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** A CONNACK refusal: mqtt.js's ErrorWithReasonCode carries the code as a number. */
export function connackCode(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = (e as { code: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

export function describeConnectError(e: unknown, url: string): GantryError {
  const message = e instanceof Error ? e.message : String(e);
  const code = errnoCode(e);
  const reason = connackCode(e);
  const where = `MQTT broker ${url}`;
  if (reason !== undefined) {
    if (AUTH_CODES.has(reason)) {
      return denied(
        `${where} refused the connection: ${message} (check cloud.username/password or the client certificate)`,
        {
          cause: e,
        },
      );
    }
    return unavailable(`${where} refused the connection: ${message} (reason code ${reason})`, { cause: e });
  }
  if (code === 'ECONNREFUSED') return unavailable(`${where} refused the TCP connection (is it running?)`, { cause: e });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return unavailable(`${where}: cannot resolve the host name (${code})`, { cause: e });
  }
  if (code !== undefined && UNTRUSTED_SERVER_CERT.has(code)) {
    return denied(`TLS to ${where}: the broker's certificate is not trusted (${code}; check cloud.caFile)`, {
      cause: e,
    });
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return denied(`TLS to ${where}: the broker's certificate is not valid now (${code})`, { cause: e });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return denied(`TLS to ${where}: the broker's certificate does not name this host (${message})`, { cause: e });
  }
  const alert =
    /alert (certificate required|bad certificate|unknown ca|certificate unknown|certificate revoked|certificate expired)/i.exec(
      message,
    );
  if (alert) {
    return denied(
      `TLS to ${where}: the broker rejected the client certificate (TLS alert "${alert[1]}"; check cloud.certFile/keyFile)`,
      { cause: e },
    );
  }
  if (message === 'connack timeout') {
    return unavailable(`${where} accepted TCP but sent no CONNACK in time (slow or not an MQTT broker?)`, {
      cause: e,
    });
  }
  if (message === 'Keepalive timeout') return unavailable(`${where} stopped answering pings`, { cause: e });
  return unavailable(`${where}: ${message}${code ? ` (${code})` : ''}`, { cause: e });
}
