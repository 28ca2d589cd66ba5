import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BUNDLED_PROFILES_DIR } from '../../../agent/src/config/profile.js';
import type { FirmwareProfile } from '../../../agent/src/config/profile-types.js';

/** The shipped EC-IoT profile (test/unit/config checks it against the schema); a fresh copy per call. */
export function ecIot(): FirmwareProfile {
  return JSON.parse(readFileSync(path.join(BUNDLED_PROFILES_DIR, 'ec-iot-arm.json'), 'utf8')) as FirmwareProfile;
}

export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;
