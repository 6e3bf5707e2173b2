import { z } from 'zod';
import { parseHostPort } from '../net/address.js';
import { labelSelectorSchema, SELECTION_MODES } from '../faultpolicy/resource.js';
import { duration, probability } from '../policy/units.js';

/**
 * The experiment file's shape (`kind: Experiment`): targets (sidecars' admin APIs, policy
 * ConfigMaps), a steady state (probes), a method (steps), abort conditions, an optional random
 * mode. Rules inside steps are policy rules, validated by the policy's own loader (load.ts).
 */

export const EXPERIMENT_KIND = 'Experiment';
export const API_VERSION = 'faultline.dev/v1alpha1';

const NAME = /^[a-z0-9]([-a-z0-9_]{0,30}[a-z0-9])?$/;
const name = (what: string) => z.string().regex(NAME, `${what} must be 1-32 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit`);

const adminTarget = z.strictObject({
  /** The sidecar's admin API, e.g. http://127.0.0.1:15000. */
  url: z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL, e.g. "http://127.0.0.1:15000"' }),
  /** The file holding the admin bearer token (the sidecar's --admin-token-file). */
  tokenFile: z.string().min(1).optional(),
});

const configMapTarget = z.strictObject({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  /** The ConfigMap key that holds the policy. */
  key: z.string().min(1).default('policy.yaml'),
  /** Default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
});

/** Pods of a namespace, picked as a FaultPolicy picks them; each chosen pod's sidecar gets the rules (pod proxy), or one FaultPolicy object carries them. */
const kubernetesTarget = z.strictObject({
  namespace: z.string().min(1).optional(),
  selector: labelSelectorSchema.optional(),
  mode: z.enum(SELECTION_MODES).default('all'),
  value: z.number().int().min(0).optional(),
  /** pods: POST /rules on each chosen pod through the API server's pod proxy; faultpolicy: one FaultPolicy object with expiresAt. */
  via: z.enum(['pods', 'faultpolicy']).default('pods'),
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
});

const target = z.strictObject({
  name: name('target name'),
  admin: adminTarget.optional(),
  configMap: configMapTarget.optional(),
  kubernetes: kubernetesTarget.optional(),
});

const httpProbe = z.strictObject({
  url: z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' }),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS']).default('GET'),
  headers: z.record(z.string(), z.string()).optional(),
  /** Statuses that count as success; default 200-399. */
  status: z.union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)]).optional(),
});

const tcpProbe = z.strictObject({
  address: z.string().refine((a) => parseHostPort(a) !== undefined, 'expected HOST:PORT, e.g. "127.0.0.1:5432"'),
});

const probe = z.strictObject({
  name: name('probe name'),
  http: httpProbe.optional(),
  tcp: tcpProbe.optional(),
  interval: duration.default(1000),
  /** A sample slower than this fails. */
  maxLatency: duration.optional(),
  /** Give up on one sample after this long (a failure). */
  timeout: duration.default(2000),
});

const step = z.strictObject({
  name: name('step name').optional(),
  /** A pause: no fault from this step. */
  wait: duration.optional(),
  /** Target names; default every target. */
  targets: z.array(z.string()).min(1).optional(),
  /** Policy rules, as in a policy file. */
  rules: z.array(z.looseObject({})).min(1).optional(),
  /** Shorthand for one rule with this scenario (its faults, match and the step's name). */
  scenario: z.string().optional(),
  match: z.looseObject({}).optional(),
  faults: z.array(z.looseObject({})).optional(),
  duration: duration.optional(),
  ramp: z.strictObject({ probabilities: z.array(probability).min(1).max(100), every: duration }).optional(),
  /** Delete `count` of the kubernetes target's pods (picked as its mode picks), then wait until as many are ready again. */
  podKill: z.strictObject({ target: z.string().optional(), count: z.number().int().positive().default(1), readyTimeout: duration.default(120_000) }).optional(),
  /** Scale a Deployment of the target's namespace to `replicas`, hold `duration`, scale it back; each followed by waiting until its pods are ready. */
  scale: z.strictObject({ target: z.string().optional(), deployment: z.string().min(1), replicas: z.number().int().min(0), readyTimeout: duration.default(120_000) }).optional(),
});

const random = z.strictObject({
  probability,
  types: z.array(z.string()).min(1),
  interval: duration,
  duration,
  /** How long one drawn fault stays; at most the interval. Default: half the interval. */
  faultDuration: duration.optional(),
  match: z.looseObject({}).optional(),
  targets: z.array(z.string()).min(1).optional(),
  seed: z.number().int().optional(),
});

export const experimentSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `apiVersion must be "${API_VERSION}"` }),
  kind: z.literal(EXPERIMENT_KIND, { message: `kind must be "${EXPERIMENT_KIND}"` }),
  metadata: z.looseObject({ name: name('metadata.name') }),
  spec: z.strictObject({
    targets: z.array(target).min(1, 'an experiment needs at least one target'),
    steadyState: z.strictObject({
      probes: z.array(probe).min(1, 'the steady state needs at least one probe'),
      /** How long the steady state is watched before the method. */
      before: duration.default(5000),
      /** How long it is watched after the last fault is removed. */
      after: duration.default(5000),
      /** Share of ok samples the steady state needs before the method, per probe. */
      minAvailability: probability.default(1),
    }),
    abort: z
      .strictObject({
        /** This many failed samples in a row of one probe halt the experiment. */
        consecutiveFailures: z.number().int().positive().default(3),
        /** Or this share of failures among a probe's last `window` samples. */
        failureRatio: probability.optional(),
        window: z.number().int().positive().default(10),
        /** Shadow traffic: halt when a mirror rule's drift ratio during the run is over this. */
        driftRatio: probability.optional(),
        /** Compared mirrored requests a rule needs before its drift ratio counts. */
        driftMinRequests: z.number().int().positive().default(20),
      })
      .default({ consecutiveFailures: 3, window: 10, driftMinRequests: 20 }),
    method: z.array(step).default([]),
    random: random.optional(),
    /** A rule's expiresAt is the end of its step plus this: faults revert even if the runner dies. */
    expiryGrace: duration.default(30_000),
  }),
});

export type ExperimentDocument = z.output<typeof experimentSchema>;
export type TargetSpec = z.output<typeof target>;
export type KubernetesTargetSpec = z.output<typeof kubernetesTarget>;
export type ProbeSpec = z.output<typeof probe>;
export type StepSpec = z.output<typeof step>;
export type RandomSpec = z.output<typeof random>;
