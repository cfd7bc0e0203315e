import { invalid as invalidField, required } from '../../api/meta/field-errors.ts';
import { isPlainObject, type KubeObject } from '../../api/object.ts';
import { badRequest, conflict, invalid, notFound, type FieldCause } from '../../lib/errors.ts';
import { decodeObjectBody, objectBodyFormat, readBody } from '../body.ts';
import { sendJson, setWarnings } from '../handlers/respond.ts';
import type { RequestScope } from '../handlers/scope.ts';
import { opContext } from '../handlers/write.ts';
import { admissionRequest } from '../registry/registry.ts';
import type { SubresourceProvider } from '../providers.ts';
import { statusErrors } from '../status.ts';
import { credentialIdForJti, EXPIRATION_EXTENSION_SECONDS, type ObjectRef, type ServiceAccountTokens, WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS } from './token-signer.ts';

interface BoundObjectRef {
  kind?: string;
  apiVersion?: string;
  name?: string;
  uid?: string;
}

interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds?: number;
  boundObjectRef?: BoundObjectRef | null;
}

/** upstream's ValidateTokenRequest bounds (pkg/apis/authentication/validation) */
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;
const DEFAULT_EXPIRATION_SECONDS = 3600;
const GROUP = 'authentication.k8s.io';
/** upstream's IssuedCredentialIDAuditAnnotationKey: which credential a TokenRequest minted */
export const ISSUED_CREDENTIAL_ID_ANNOTATION = 'authentication.kubernetes.io/issued-credential-id';

/** the objects a token is bound to, as looked up for its claims */
interface Bound {
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
}

const TOKEN_REQUEST_KIND = { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };

/** The TokenRequest as admission sees it: the body with its type meta, the URL's name and namespace, and expirationSeconds defaulted. */
function tokenRequestObject(body: Record<string, unknown>, namespace: string, name: string): KubeObject {
  const meta = isPlainObject(body.metadata) ? body.metadata : {};
  const spec = isPlainObject(body.spec) ? { ...body.spec } : {};
  if (spec.expirationSeconds === undefined || spec.expirationSeconds === null) spec.expirationSeconds = DEFAULT_EXPIRATION_SECONDS;
  return { ...body, apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { ...meta, name, namespace }, spec } as KubeObject;
}

const refOf = (obj: KubeObject): ObjectRef => ({ name: obj.metadata.name ?? '', uid: obj.metadata.uid ?? '' });

/**
 * POST serviceaccounts/{name}/token (authentication.k8s.io/v1 TokenRequest), as upstream's
 * TokenREST (pkg/registry/core/serviceaccount/storage/token.go): a token bound to a Pod (with the
 * pod's node named beside it, ServiceAccountTokenPodNodeInfo), a Secret or a Node
 * (ServiceAccountTokenNodeBinding, on by default since 1.31) of the account's namespace, looked
 * up and, when the reference gives a UID, required to be that object. Audiences default to the
 * apiserver's; expirationSeconds defaults to an hour, at least 10 minutes, at most 2^32 s, and is
 * shortened (with a warning) to `maxExpirationSeconds` when that is set.
 */
export function tokenRequestProvider(deps: { tokens: ServiceAccountTokens }): SubresourceProvider {
  const { tokens } = deps;
  return {
    group: '',
    resource: 'serviceaccounts',
    subresource: 'token',
    async serve(rq: RequestScope): Promise<void> {
      if (rq.info.verb !== 'create') throw statusErrors.methodNotAllowed(rq.req.method ?? '', 'serviceaccounts/token');
      const { namespace, name } = rq.info;
      const body = decodeObjectBody(await readBody(rq.req, rq.server.maxBodyBytes), objectBodyFormat(rq.req.headers['content-type']));
      if (!isPlainObject(body)) throw badRequest('the request body must be a TokenRequest object');
      if (body.kind !== undefined && body.kind !== 'TokenRequest') throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (TokenRequest)`);
      const meta = (isPlainObject(body.metadata) ? body.metadata : {}) as { name?: unknown; namespace?: unknown };
      if (typeof meta.name === 'string' && meta.name !== '' && meta.name !== name) {
        throw invalid('TokenRequest', name, [invalidField('metadata.name', meta.name, 'must match the service account name if specified')], GROUP);
      }
      if (typeof meta.namespace === 'string' && meta.namespace !== '' && meta.namespace !== namespace) {
        throw invalid('TokenRequest', name, [invalidField('metadata.namespace', meta.namespace, 'must match the service account namespace if specified')], GROUP);
      }
      const registry = rq.server.registry;
      // Admitted as upstream's TokenREST is: a CREATE of `serviceaccounts/token` with the
      // authentication.k8s.io/v1 TokenRequest, mutating plugins before anything is looked up (what
      // they change is what is issued), validating ones (NodeRestriction among them) before signing.
      const request = tokenRequestObject(body, namespace, name);
      const admission = admissionRequest(opContext(rq, false, undefined), { operation: 'CREATE', def: rq.def, subresource: 'token', kind: TOKEN_REQUEST_KIND, object: request, name, namespace });
      await registry.admit(admission, 'mutate');
      const spec = (isPlainObject(request.spec) ? request.spec : {}) as TokenRequestSpec;
      const saDef = registry.defFor('', 'serviceaccounts');
      if (!saDef) throw statusErrors.notFoundPath();
      const sa = (await registry.storeFor(saDef).tryGet(namespace, name))?.obj;
      if (!sa) throw notFound('serviceaccounts', name);

      const audiences = Array.isArray(spec.audiences) && spec.audiences.length > 0 ? spec.audiences : tokens.audiences;
      const requested = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
      const causes: FieldCause[] = [];
      if (!audiences.every((a) => typeof a === 'string' && a !== '')) causes.push(invalidField('spec.audiences', audiences, 'audiences must be non-empty strings'));
      if (typeof requested !== 'number' || !Number.isInteger(requested)) causes.push(invalidField('spec.expirationSeconds', requested, 'must be an integer'));
      else if (requested < MIN_EXPIRATION_SECONDS) causes.push(invalidField('spec.expirationSeconds', requested, 'may not specify a duration less than 10 minutes'));
      else if (requested > MAX_EXPIRATION_SECONDS) causes.push(invalidField('spec.expirationSeconds', requested, 'may not specify a duration larger than 2^32 seconds'));
      const ref: BoundObjectRef | undefined = spec.boundObjectRef ?? undefined;
      if (ref !== undefined && !isPlainObject(ref as unknown)) causes.push(invalidField('spec.boundObjectRef', ref, 'must be an object'));
      else if (ref !== undefined && (typeof ref.name !== 'string' || ref.name === '')) causes.push(required('spec.boundObjectRef.name'));
      // upstream names no object in a validation error of the request
      if (causes.length > 0) throw invalid('TokenRequest', '', causes, GROUP);

      const bound = ref ? await lookUpBound(rq, name, namespace, ref) : {};
      await registry.admit(admission, 'validate');

      let exp = requested;
      if (tokens.maxExpirationSeconds > 0 && exp > tokens.maxExpirationSeconds) {
        rq.warnings.push(`requested expiration of ${exp} seconds shortened to ${tokens.maxExpirationSeconds} seconds`);
        exp = tokens.maxExpirationSeconds;
      }
      const now = registry.now();
      // upstream's safe transition for projected tokens: what the kubelet asks for a pod's volume,
      // for the apiserver's own audiences, is issued for a year and only warns (a `warnafter`
      // claim, a stale-token audit annotation) past the hour; the answer still says the hour, so
      // the node renews it as asked. An edge node offline for longer keeps its pods' tokens valid.
      const extend = tokens.extendExpiration && bound.pod !== undefined && exp === WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS && audiences.every((a) => tokens.audiences.includes(a));
      const issued = tokens.issue({
        namespace,
        serviceAccount: { name, uid: sa.metadata.uid ?? '' },
        audiences,
        expirationSeconds: extend ? EXPIRATION_EXTENSION_SECONDS : exp,
        ...(extend ? { warnAfterSeconds: exp } : {}),
        pod: bound.pod,
        secret: bound.secret,
        node: bound.node,
        now,
      });
      if (rq.audit) rq.audit.annotations[ISSUED_CREDENTIAL_ID_ANNOTATION] = credentialIdForJti(issued.jti);
      const out = {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name, namespace, creationTimestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z') },
        spec: {
          audiences,
          expirationSeconds: exp,
          // upstream answers the reference as it was sent
          boundObjectRef: ref ? { kind: ref.kind, apiVersion: ref.apiVersion, name: ref.name, ...(ref.uid ? { uid: ref.uid } : {}) } : null,
        },
        status: { token: issued.token, expirationTimestamp: new Date(Math.floor(now.getTime() / 1000) * 1000 + exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
      };
      setWarnings(rq.res, rq.warnings);
      sendJson(rq.res, 201, out);
    },
  };
}

/** the object a reference names, of the kinds a token can be bound to; its UID checked when given */
async function lookUpBound(rq: RequestScope, saName: string, namespace: string, ref: BoundObjectRef): Promise<Bound> {
  const registry = rq.server.registry;
  const apiVersion = ref.apiVersion ?? '';
  // schema.FromAPIVersionAndKind: "v1" is the core group; anything with a slash names another
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
  const kind = ref.kind ?? '';
  const name = ref.name ?? '';
  const get = async (plural: string, ns: string): Promise<KubeObject> => {
    const def = registry.defFor('', plural);
    const obj = def ? (await registry.storeFor(def).tryGet(ns, name))?.obj : undefined;
    if (!obj) throw notFound(plural, name);
    return obj;
  };
  let obj: KubeObject;
  const out: Bound = {};
  if (group === '' && kind === 'Pod') {
    obj = await get('pods', namespace);
    const podSa = ((obj.spec ?? {}) as { serviceAccountName?: string }).serviceAccountName ?? 'default';
    if (podSa !== saName) throw badRequest(`cannot bind token for serviceaccount "${saName}" to pod running with different serviceaccount name.`);
    out.pod = refOf(obj);
    // the pod's node rides along (ServiceAccountTokenPodNodeInfo): by name alone when it is not found
    const nodeName = ((obj.spec ?? {}) as { nodeName?: string }).nodeName;
    if (nodeName) {
      const nodeDef = registry.defFor('', 'nodes');
      const node = nodeDef ? (await registry.storeFor(nodeDef).tryGet('', nodeName))?.obj : undefined;
      out.node = { name: nodeName, uid: node?.metadata.uid ?? '' };
    }
  } else if (group === '' && kind === 'Node') {
    obj = await get('nodes', '');
    out.node = refOf(obj);
  } else if (group === '' && kind === 'Secret') {
    obj = await get('secrets', namespace);
    out.secret = refOf(obj);
  } else {
    // gvk.String()
    throw badRequest(`cannot bind token to object of type ${group}/${version}, Kind=${kind}`);
  }
  if (ref.uid && ref.uid !== obj.metadata.uid) {
    // NewConflict(GroupResource{Resource: Kind}): the Kind stands where a resource would
    throw conflict(kind, name, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
  }
  return out;
}
