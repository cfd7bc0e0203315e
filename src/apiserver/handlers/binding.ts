import { isPlainObject, type KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError, badRequest } from '../../lib/errors.ts';
import { mutableMeta } from '../registry/mutable-meta.ts';
import { admissionRequest } from '../registry/registry.ts';
import { timestamp } from '../registry/strategy.ts';
import type { ApiGroupProvider } from '../providers.ts';
import { statusErrors, statusFromError, successStatus, type Status } from '../status.ts';
import { sendJson, sendObject } from './respond.ts';
import type { RequestScope } from './scope.ts';
import { opContext, parseDryRun, readObjectBody } from './write.ts';

/** most Bindings one `bindings` request may carry (the scheduler sends up to a few hundred) */
export const MAX_BINDINGS_PER_REQUEST = 1000;

/** POST pods/{name}/binding: assign a node (upstream BindingREST). */
export async function handleBinding(rq: RequestScope, body: KubeObject): Promise<void> {
  if (body.metadata.name && body.metadata.name !== rq.info.name) {
    throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${rq.info.name})`);
  }
  await bindPod(rq, rq.def, rq.info.namespace, rq.info.name, body, parseDryRun(rq), { def: rq.def, subresource: 'binding' });
  sendObject(rq, 201, successStatus({}, 201) as unknown as KubeObject, { kind: 'json' });
}

/** the v1 Binding a binding request is admitted with */
const BINDING_KIND = { group: '', version: 'v1', kind: 'Binding' };

/**
 * Sets `spec.nodeName` of one pod and its PodScheduled=True condition, refusing a pod that is
 * bound already, being deleted or (with `metadata.uid` in the Binding) another incarnation.
 * No field manager: upstream's BindingREST writes the pod in storage past the field manager, so a
 * binding leaves managedFields as they were (and skips the costliest step of a bind here).
 * Admitted as upstream admits it: a CREATE of the Binding (`pods/binding`, or `bindings` for the
 * namespace's collection), mutating then validating plugins, before the pod is read; the pod write
 * itself is not admitted again (BindingREST writes it in storage).
 */
async function bindPod(
  rq: RequestScope,
  pods: ResourceDef,
  namespace: string,
  name: string,
  body: KubeObject,
  dryRun: boolean,
  as: { def: ResourceDef; subresource: string },
): Promise<void> {
  const ctx = opContext(rq, dryRun, undefined);
  if (body.apiVersion === undefined || body.apiVersion === '') body.apiVersion = 'v1';
  if (body.kind === undefined || body.kind === '') body.kind = 'Binding';
  if (!body.metadata.namespace) body.metadata.namespace = namespace;
  await rq.server.registry.admit(
    admissionRequest(ctx, { operation: 'CREATE', def: as.def, subresource: as.subresource, kind: as.subresource === '' ? undefined : BINDING_KIND, object: body, name, namespace }),
  );
  const target = (body as { target?: { kind?: string; name?: string } }).target;
  if (!target || typeof target.name !== 'string' || target.name === '') {
    throw new HedgeError('Invalid', `Binding "${name}" is invalid: target.name: Required value`, {
      details: { kind: 'Binding', name, causes: [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }] },
    });
  }
  if (target.kind && target.kind !== 'Node') {
    throw new HedgeError('Invalid', `Binding "${name}" is invalid: target.kind: Unsupported value: "${target.kind}"`);
  }
  const reg = rq.server.registry;
  const bindConflict = (reason: string): HedgeError =>
    new HedgeError('Conflict', `Operation cannot be fulfilled on pods/binding "${name}": ${reason}`, { details: { kind: 'pods/binding', name } });
  await reg.transform(pods, namespace, name, 'binding', ctx, (pod) => {
    const spec = (pod.spec ?? {}) as { nodeName?: string };
    if (pod.metadata.deletionTimestamp) throw bindConflict(`pod ${name} is being deleted, cannot be assigned to a host`);
    if (spec.nodeName) throw bindConflict(`pod ${name} is already assigned to node "${spec.nodeName}"`);
    if (body.metadata.uid && body.metadata.uid !== pod.metadata.uid) {
      throw bindConflict(`Precondition failed: UID in precondition: ${body.metadata.uid}, UID in object meta: ${pod.metadata.uid ?? ''}`);
    }
    spec.nodeName = target.name;
    pod.spec = spec;
    const status = (pod.status ?? {}) as { conditions?: { type: string; status: string; lastTransitionTime?: string | null; lastProbeTime?: null }[] };
    const conds = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp(reg.now()) });
    status.conditions = conds;
    pod.status = status;
    delete mutableMeta(pod).resourceVersion;
    return pod;
  }, { admission: 'none' });
}

const bindingsDef: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Binding',
  listKind: 'BindingList',
  plural: 'bindings',
  singular: 'binding',
  shortNames: [],
  categories: [],
  namespaced: true,
  verbs: ['create'],
  subresources: [],
  hasStatus: false,
};

/** a Binding of the request's namespace, type meta checked; its pod name */
function bindingItem(rq: RequestScope, item: unknown, where: string): { name: string; body: KubeObject } {
  if (!isPlainObject(item) || !isPlainObject(item.metadata)) throw badRequest(`${where}: a Binding object with metadata is required`);
  const body = item as unknown as KubeObject;
  if ((body.apiVersion ?? 'v1') !== 'v1' || (body.kind ?? 'Binding') !== 'Binding') {
    throw badRequest(`${where}: the kind in the data (${String(body.kind)}) does not match the expected kind (Binding)`);
  }
  const ns = body.metadata.namespace;
  if (ns !== undefined && ns !== '' && ns !== rq.info.namespace) {
    throw badRequest(`${where}: the namespace of the provided object does not match the namespace sent on the request`);
  }
  const name = body.metadata.name;
  if (typeof name !== 'string' || name === '') {
    throw new HedgeError('Invalid', `${where}: Binding is invalid: metadata.name: Required value: name is required`);
  }
  return { name, body };
}

/**
 * `POST /api/v1/namespaces/{ns}/bindings`: upstream's namespaced Binding collection (the pod is the
 * Binding's `metadata.name`), authorized as `create bindings`. One Binding answers as pods/binding
 * does. hedge extension: a `List` of Bindings binds them all in one request, each exactly as its own
 * pods/binding would; the writes share the store's group commit (one transaction, one WAL sync) and
 * the answer, sent once every write is durable, is a `List` of one Status per Binding, in order
 * (`Success` 201, or the error that binding alone would have got).
 */
export function bindingsProvider(): ApiGroupProvider {
  return {
    name: 'bindings',
    resources: [bindingsDef],
    async serve(rq) {
      if (rq.info.verb !== 'create' || rq.info.name !== '' || rq.info.subresource !== '' || rq.info.namespace === '') {
        throw statusErrors.methodNotAllowed(rq.req.method ?? 'GET', 'bindings');
      }
      const pods = rq.server.registry.defFor('', 'pods');
      if (!pods) throw statusErrors.notFoundPath();
      const dryRun = parseDryRun(rq);
      const body = await readObjectBody(rq);
      if (!isPlainObject(body) || body.kind !== 'List') {
        const { name, body: binding } = bindingItem(rq, body, 'Binding');
        await bindPod(rq, pods, rq.info.namespace, name, binding, dryRun, { def: bindingsDef, subresource: '' });
        sendObject(rq, 201, successStatus({}, 201) as unknown as KubeObject, { kind: 'json' });
        return;
      }
      if (!Array.isArray(body.items)) throw badRequest('List: items must be an array of Bindings');
      if (body.items.length > MAX_BINDINGS_PER_REQUEST) {
        throw badRequest(`List: ${body.items.length} Bindings in one request; at most ${MAX_BINDINGS_PER_REQUEST}`);
      }
      // every item is checked before any pod is written: a malformed request binds nothing
      const items = body.items.map((it, i) => bindingItem(rq, it, `items[${i}]`));
      // started together, so their writes join one group commit; each settles after its own sync
      const outcomes = await Promise.allSettled(items.map((it) => bindPod(rq, pods, rq.info.namespace, it.name, it.body, dryRun, { def: bindingsDef, subresource: '' })));
      const statuses: Status[] = outcomes.map((o) => (o.status === 'fulfilled' ? successStatus({}, 201) : statusFromError(o.reason)));
      sendJson(rq.res, 200, { apiVersion: 'v1', kind: 'List', metadata: {}, items: statuses });
    },
  };
}
