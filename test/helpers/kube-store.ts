import { randomUUID } from 'node:crypto';
import { matchesSelector, parseSelector } from '../../src/fleet/selector.js';

/** An object as the fake API server stores it. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion: string; creationTimestamp: string; labels?: Record<string, string>; [k: string]: unknown };
  [key: string]: unknown;
}

/** What the API server knows of a resource: its kind and whether it lives in namespaces. */
export interface ResourceInfo {
  kind: string;
  namespaced: boolean;
  /**
   * A status subresource (custom resources that declare one, Deployments): `status` is written
   * only through `/status`, and `metadata.generation` counts changes to everything else.
   */
  status?: boolean;
  /** The CRD's schema check: the problems of an object (a 422 Invalid), none when it is valid. */
  validate?: (object: Record<string, unknown>) => string[];
  /** The CRD's structural defaults, applied to every object written (as the API server does). */
  defaults?: (object: Record<string, unknown>) => void;
}

/** A change, as a watch would deliver it (kept so that watch can be added on top). */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: string;
  object: StoredObject;
}

/** An API error the server answers with a Status object. */
export class ApiStatus extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

/** The resources the fake knows, by "group/version/resource" (the core group is written without a group). */
export const RESOURCES = new Map<string, ResourceInfo>([
  ['v1/namespaces', { kind: 'Namespace', namespaced: false }],
  ['v1/pods', { kind: 'Pod', namespaced: true }],
  ['v1/secrets', { kind: 'Secret', namespaced: true }],
  ['v1/configmaps', { kind: 'ConfigMap', namespaced: true }],
  ['apps/v1/deployments', { kind: 'Deployment', namespaced: true, status: true }],
  ['rbac.authorization.k8s.io/v1/rolebindings', { kind: 'RoleBinding', namespaced: true }],
  ['apiextensions.k8s.io/v1/customresourcedefinitions', { kind: 'CustomResourceDefinition', namespaced: false }],
]);

/**
 * The fake API server's objects: one collection per resource ("v1/pods",
 * "faultline.dev/v1alpha1/faultpolicies" once defined), keyed "namespace/name" ("name" when
 * cluster-scoped), with one resourceVersion counter for all, bumped on every write, as etcd's
 * revision is. Every write is also an event, for a watch to replay from a resourceVersion.
 */
export class ObjectStore {
  private version: number;
  private readonly collections = new Map<string, Map<string, StoredObject>>();
  readonly events: (StoreEvent & { resourceVersion: string })[] = [];
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  /** Events at or below this resourceVersion are gone (etcd compaction): a watch from there gets 410 Gone. */
  private compactedAt = 0;

  constructor(start = 1000) {
    this.version = start;
  }

  /** The current resourceVersion (of the last write). */
  get resourceVersion(): string {
    return String(this.version);
  }

  /** Defines a resource (a CRD) the server then serves. */
  define(resource: string, info: ResourceInfo): void {
    RESOURCES.set(resource, info);
  }

  /** Forgets the history up to now, as etcd's compaction does: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedAt = this.version;
    this.events.length = 0;
  }

  /**
   * The events of `resource` after `resourceVersion`, in order, for a watch to replay; undefined
   * when that history was compacted away (the watch then answers 410 Gone).
   */
  eventsSince(resource: string, resourceVersion: number): (StoreEvent & { resourceVersion: string })[] | undefined {
    if (resourceVersion < this.compactedAt) return undefined;
    return this.events.filter((e) => e.resource === resource && Number(e.resourceVersion) > resourceVersion);
  }

  /** The live collection of a resource (tests may read and seed it directly). */
  collection(resource: string): Map<string, StoredObject> {
    let map = this.collections.get(resource);
    if (!map) this.collections.set(resource, (map = new Map()));
    return map;
  }

  /** Calls `listener` on every change from now on; returns a function that stops it. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(resource: string, namespace: string | undefined, name: string): StoredObject {
    const found = this.collection(resource).get(key(namespace, name));
    if (!found) throw notFound(resource, name);
    return found;
  }

  /** Items of a namespace (or of all) matching a label selector, and the list's resourceVersion. */
  list(resource: string, namespace: string | undefined, labelSelector = ''): { items: StoredObject[]; resourceVersion: string } {
    let requirements;
    try {
      requirements = parseSelector(labelSelector);
    } catch (err) {
      throw new ApiStatus(400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`);
    }
    const items = [...this.collection(resource).values()].filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && matchesSelector(requirements, o.metadata.labels));
    return { items, resourceVersion: this.resourceVersion };
  }

  /** Creates an object: uid, resourceVersion and creationTimestamp are the server's; 409 when the name is taken. */
  create(resource: string, namespace: string | undefined, body: Record<string, unknown>): StoredObject {
    const meta = (body.metadata ?? {}) as Record<string, unknown>;
    const name = typeof meta.name === 'string' ? meta.name : '';
    if (!name) throw new ApiStatus(422, 'Invalid', `${resource.split('/').pop()} "" is invalid: metadata.name: Required value: name is required`);
    if (this.collection(resource).has(key(namespace, name))) {
      throw new ApiStatus(409, 'AlreadyExists', `${plural(resource)} "${name}" already exists`, { name, kind: plural(resource) });
    }
    const info = RESOURCES.get(resource) as ResourceInfo;
    const { status: _ignored, ...rest } = body;
    checkValid(resource, info, name, body);
    return this.write(resource, 'ADDED', {
      // With a status subresource, a create's status is dropped (only /status writes it).
      ...(info.status ? rest : body),
      apiVersion: apiVersionOf(resource),
      kind: info.kind,
      metadata: {
        ...meta, name, ...(namespace ? { namespace } : {}), uid: randomUUID(), resourceVersion: '', creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(info.status ? { generation: 1 } : {}),
      },
    } as StoredObject);
  }

  /** The stored object `body` replaces: a stale resourceVersion in it is a 409 Conflict, none is an unconditional update. */
  private current(resource: string, namespace: string | undefined, name: string, body: Record<string, unknown>): StoredObject {
    const stored = this.get(resource, namespace, name);
    const sent = (body.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (sent !== undefined && sent !== stored.metadata.resourceVersion) {
      throw new ApiStatus(409, 'Conflict', `Operation cannot be fulfilled on ${plural(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: plural(resource) });
    }
    return stored;
  }

  /** Replaces an object; a stale resourceVersion is a 409 Conflict, none is an unconditional update. */
  update(resource: string, namespace: string | undefined, name: string, body: Record<string, unknown>): StoredObject {
    const stored = this.current(resource, namespace, name, body);
    const info = RESOURCES.get(resource) as ResourceInfo;
    if (!info.status) {
      return this.write(resource, 'MODIFIED', { ...body, apiVersion: stored.apiVersion, kind: stored.kind, metadata: { ...(body.metadata as object), ...pick(stored.metadata), resourceVersion: '' } } as StoredObject);
    }
    // A status subresource: the status stays as stored, and the generation moves only when
    // something besides metadata and status changed.
    checkValid(resource, info, name, body);
    const { metadata: _m, status: _s, apiVersion: _na, kind: _nk, ...next } = body;
    const { metadata: _sm, status, apiVersion: _a, kind: _k, ...before } = stored;
    const generation = Number(stored.metadata.generation ?? 1) + (JSON.stringify(sortKeys(next)) === JSON.stringify(sortKeys(before)) ? 0 : 1);
    return this.write(resource, 'MODIFIED', {
      ...next, ...(status !== undefined ? { status } : {}), apiVersion: stored.apiVersion, kind: stored.kind,
      metadata: { ...(body.metadata as object), ...pick(stored.metadata), generation, resourceVersion: '' },
    } as StoredObject);
  }

  /** PUT on `/status`: only the status is taken from `body`; a stale resourceVersion is a 409. */
  updateStatus(resource: string, namespace: string | undefined, name: string, body: Record<string, unknown>): StoredObject {
    const stored = this.current(resource, namespace, name, body);
    return this.write(resource, 'MODIFIED', { ...structuredClone(stored), status: body.status, metadata: { ...stored.metadata, resourceVersion: '' } });
  }

  /** A JSON merge patch (RFC 7386) of the object, or of its status with `subresource` "status". */
  patch(resource: string, namespace: string | undefined, name: string, patch: Record<string, unknown>, subresource?: 'status'): StoredObject {
    const stored = this.get(resource, namespace, name);
    const merged = mergePatch(structuredClone(stored), patch) as Record<string, unknown>;
    const { resourceVersion: _rv, ...meta } = merged.metadata as Record<string, unknown>;
    const sent = (patch.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    const body = { ...merged, metadata: { ...meta, ...(sent !== undefined ? { resourceVersion: sent } : {}) } };
    return subresource === 'status' ? this.updateStatus(resource, namespace, name, body) : this.update(resource, namespace, name, body);
  }

  delete(resource: string, namespace: string | undefined, name: string): StoredObject {
    const stored = this.get(resource, namespace, name);
    this.collection(resource).delete(key(namespace, name));
    this.emit(resource, 'DELETED', { ...stored, metadata: { ...stored.metadata, resourceVersion: this.bump() } });
    return stored;
  }

  /** Bumps the resourceVersion of an object as if someone else had written it (a concurrent writer). */
  touch(resource: string, namespace: string | undefined, name: string): void {
    const stored = this.get(resource, namespace, name);
    stored.metadata.resourceVersion = this.bump();
  }

  private write(resource: string, type: StoreEvent['type'], object: StoredObject): StoredObject {
    object.metadata.resourceVersion = this.bump();
    this.collection(resource).set(key(object.metadata.namespace, object.metadata.name), object);
    this.emit(resource, type, object);
    return object;
  }

  private bump(): string {
    return String(++this.version);
  }

  private emit(resource: string, type: StoreEvent['type'], object: StoredObject): void {
    const event = { type, resource, object: structuredClone(object) };
    this.events.push({ ...event, resourceVersion: object.metadata.resourceVersion });
    for (const listener of this.listeners) listener(event);
  }
}

const key = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name);
const plural = (resource: string) => resource.split('/').pop() as string;
const apiVersionOf = (resource: string) => resource.split('/').slice(0, -1).join('/');
/** The fields of metadata that only the server sets. */
const pick = (meta: StoredObject['metadata']) => ({ name: meta.name, ...(meta.namespace ? { namespace: meta.namespace } : {}), uid: meta.uid, creationTimestamp: meta.creationTimestamp });

/** RFC 7386: objects merge key by key, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
}

/** The CRD's schema, as the API server applies it: a 422 Invalid naming every problem. */
function checkValid(resource: string, info: ResourceInfo, name: string, body: Record<string, unknown>): void {
  info.defaults?.(body);
  const problems = info.validate?.(body) ?? [];
  if (problems.length === 0) return;
  throw new ApiStatus(422, 'Invalid', `${info.kind} "${name}" is invalid: ${problems.join(', ')}`, { name, kind: plural(resource), group: resource.split('/').length > 2 ? resource.split('/')[0] : '' });
}

export function notFound(resource: string, name: string): ApiStatus {
  return new ApiStatus(404, 'NotFound', `${plural(resource)} "${name}" not found`, { name, kind: plural(resource) });
}
