/**
 * deployment.schema.json and deploy/types.ts describe the same document. The
 * field lists below are checked against the TypeScript types by the compiler
 * (a missing, extra or wrongly optional field is a type error) and against
 * the schema by this test, so neither can drift alone.
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEPLOYMENT_SCHEMA_PATH } from '../../../agent/src/deploy/document.js';
import type {
  DeployedApp,
  DeploymentDocument,
  DeviceGrantRef,
  RolloutPolicy,
  TelemetryRule,
  UpdateStrategy,
} from '../../../agent/src/deploy/types.js';
import type { HealthCheck, Resources, RestartPolicy, VolumeMount } from '../../../agent/src/runtime/types.js';

const test = suite('deploy: schema and types agree');

/** Every key of T, marked as the type has it. */
type Presence<T> = { [K in keyof T]-?: Partial<Pick<T, K>> extends Pick<T, K> ? 'optional' : 'required' };
/** Every member of a string union. */
type Members<U extends string> = Record<U, true>;

type Threshold = NonNullable<TelemetryRule['thresholds']>[number];
type OnFailure = Extract<RestartPolicy, { policy: 'on-failure' }>;

const document: Presence<DeploymentDocument> = {
  $schema: 'optional',
  revision: 'required',
  description: 'optional',
  apps: 'required',
  rollout: 'optional',
};
const app: Presence<DeployedApp> = {
  image: 'required',
  entrypoint: 'optional',
  command: 'optional',
  env: 'optional',
  workingDir: 'optional',
  user: 'optional',
  resources: 'optional',
  devices: 'optional',
  sensors: 'optional',
  config: 'optional',
  restart: 'optional',
  healthCheck: 'optional',
  network: 'optional',
  readOnlyRootfs: 'optional',
  volumes: 'optional',
  telemetry: 'optional',
  dependsOn: 'optional',
  update: 'optional',
};
const resources: Presence<Resources> = {
  memoryMiB: 'optional',
  memoryReservationMiB: 'optional',
  cpus: 'optional',
  cpuWeight: 'optional',
  cpuset: 'optional',
  pids: 'optional',
  ioWeight: 'optional',
};
const deviceGrant: Presence<DeviceGrantRef> = { device: 'required', access: 'required', mode: 'required' };
const restart: Presence<OnFailure> = { policy: 'required', maxRetries: 'optional' };
const healthCheck: Presence<HealthCheck> = {
  command: 'required',
  intervalSec: 'optional',
  timeoutSec: 'optional',
  retries: 'optional',
  startPeriodSec: 'optional',
};
const volume: Presence<VolumeMount> = { name: 'required', target: 'required', readOnly: 'optional' };
const telemetryRule: Presence<TelemetryRule> = {
  deadband: 'optional',
  minIntervalSec: 'optional',
  windowSec: 'optional',
  thresholds: 'optional',
  priority: 'optional',
  ttlSec: 'optional',
  batch: 'optional',
};
const threshold: Presence<Threshold> = { above: 'optional', below: 'optional', name: 'optional' };
const rollout: Presence<RolloutPolicy> = { healthyWithinSec: 'optional', rollbackOnFailure: 'optional' };

const access: Members<DeviceGrantRef['access']> = { r: true, rw: true };
const mode: Members<DeviceGrantRef['mode']> = { broker: true, passthrough: true };
const network: Members<NonNullable<DeployedApp['network']>> = { none: true, host: true };
const update: Members<UpdateStrategy> = { 'stop-then-start': true, 'start-then-stop': true };
const policy: Members<RestartPolicy['policy']> = { always: true, 'on-failure': true, never: true };

interface SchemaObject {
  properties: Record<string, { enum?: string[] }>;
  required?: string[];
  additionalProperties?: unknown;
}
const schema = JSON.parse(readFileSync(DEPLOYMENT_SCHEMA_PATH, 'utf8')) as SchemaObject & {
  $defs: Record<string, SchemaObject>;
};
const def = (name: string): SchemaObject => {
  const d = schema.$defs[name];
  assert.ok(d, `schema has $defs/${name}`);
  return d as SchemaObject;
};

const objects: Array<[string, SchemaObject, Record<string, 'optional' | 'required'>]> = [
  ['document', schema, document],
  ['app', def('app'), app],
  ['resources', def('resources'), resources],
  ['deviceGrant', def('deviceGrant'), deviceGrant],
  ['restart', def('restart'), restart],
  ['healthCheck', def('healthCheck'), healthCheck],
  ['volume', def('volume'), volume],
  ['telemetryRule', def('telemetryRule'), telemetryRule],
  ['threshold', def('threshold'), threshold],
  ['rollout', schema.properties.rollout as SchemaObject, rollout],
];

test('every object has the same fields, equally required, and admits nothing else', () => {
  for (const [name, s, fields] of objects) {
    assert.equal(Object.keys(s.properties).sort(), Object.keys(fields).sort(), `${name}: properties`);
    const required = Object.keys(fields).filter((k) => fields[k] === 'required');
    assert.equal([...(s.required ?? [])].sort(), required.sort(), `${name}: required`);
    assert.is(s.additionalProperties, false, `${name}: additionalProperties`);
  }
});

test('every enum has the union type members', () => {
  const enums: Array<[string, string[] | undefined, Record<string, true>]> = [
    ['access', def('deviceGrant').properties.access?.enum, access],
    ['mode', def('deviceGrant').properties.mode?.enum, mode],
    ['network', def('app').properties.network?.enum, network],
    ['update', def('app').properties.update?.enum, update],
    ['restart policy', def('restart').properties.policy?.enum, policy],
  ];
  for (const [name, values, members] of enums)
    assert.equal([...(values ?? [])].sort(), Object.keys(members).sort(), name);
});

test.run();
