import { readFileSync } from 'node:fs';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Pod } from 'kubernetes-models/v1/Pod';
import type { KubeObject } from '../../src/kubernetes/inject.js';

/** The AdmissionReview fixtures of test/fixtures/kubernetes/, one per workload kind. */
export const FIXTURE_NAMES = ['pod', 'deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'cronjob'] as const;

export interface ReviewFixture {
  apiVersion: string;
  kind: string;
  request: { uid: string; namespace?: string; operation?: string; object: KubeObject; [key: string]: unknown };
}

/** A fresh copy of an AdmissionReview fixture. */
export function reviewFixture(name: string): ReviewFixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/kubernetes/${name}.json`, import.meta.url), 'utf8')) as ReviewFixture;
}

const models: Record<string, new (data: never) => { validate(): void }> = { Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob };

/** Validates an object against the Kubernetes OpenAPI schema (kubernetes-models); throws when invalid. */
export function validateObject(object: KubeObject): void {
  const Model = models[String(object.kind)];
  if (!Model) throw new Error(`no schema for kind ${String(object.kind)}`);
  new Model(object as never).validate();
}
