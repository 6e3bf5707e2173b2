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
    return this.write(resource, 'ADDED', {
      ...body,
      apiVersion: apiVersionOf(resource),
      kind: (RESOURCES.get(resource) as ResourceInfo).kind,
      metadata: { ...meta, name, ...(namespace ? { namespace } : {}), uid: randomUUID(), resourceVersion: '', creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    } as StoredObject);
  }

  /** Replaces an object; a stale resourceVersion is a 409 Conflict, none is an unconditional update. */
  update(resource: string, namespace: string | undefined, name: string, body: Record<string, unknown>): StoredObject {
    const stored = this.get(resource, namespace, name);
    const sent = (body.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (sent !== undefined && sent !== stored.metadata.resourceVersion) {
      throw new ApiStatus(409, 'Conflict', `Operation cannot be fulfilled on ${plural(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: plural(resource) });
    }
    return this.write(resource, 'MODIFIED', { ...body, apiVersion: stored.apiVersion, kind: stored.kind, metadata: { ...(body.metadata as object), ...pick(stored.metadata), resourceVersion: '' } } as StoredObject);
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

export function notFound(resource: string, name: string): ApiStatus {
  return new ApiStatus(404, 'NotFound', `${plural(resource)} "${name}" not found`, { name, kind: plural(resource) });
}
