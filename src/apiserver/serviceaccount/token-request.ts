import { isPlainObject, type KubeObject } from '../../api/object.ts';
import { HedgeError, badRequest, notFound } from '../../lib/errors.ts';
import { decodeObjectBody, objectBodyFormat, readBody } from '../body.ts';
import { sendJson } from '../handlers/respond.ts';
import type { RequestScope } from '../handlers/scope.ts';
import { opContext } from '../handlers/write.ts';
import { admissionRequest } from '../registry/registry.ts';
import type { SubresourceProvider } from '../providers.ts';
import { statusErrors } from '../status.ts';
import type { ServiceAccountTokens } from './token-signer.ts';

interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds?: number;
  boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string };
}

const minExpirationSeconds = 600;

function invalid(field: string, message: string, name: string): HedgeError {
  return new HedgeError('Invalid', `TokenRequest.authentication.k8s.io "${name}" is invalid: ${field}: ${message}`, {
    details: { kind: 'TokenRequest', group: 'authentication.k8s.io', name, causes: [{ field, reason: 'FieldValueInvalid', message }] },
  });
}

const TOKEN_REQUEST_KIND = { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };

/** The TokenRequest as admission sees it: the body with its type meta, the URL's name and namespace, and expirationSeconds defaulted. */
function tokenRequestObject(body: Record<string, unknown>, namespace: string, name: string): KubeObject {
  const meta = isPlainObject(body.metadata) ? body.metadata : {};
  const spec = isPlainObject(body.spec) ? { ...body.spec } : {};
  if (spec.expirationSeconds === undefined || spec.expirationSeconds === null) spec.expirationSeconds = 3600;
  return { ...body, apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { ...meta, name, namespace }, spec } as KubeObject;
}

/** POST serviceaccounts/{name}/token (authentication.k8s.io/v1 TokenRequest). */
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
      const registry = rq.server.registry;
      // Admitted as upstream's TokenREST is: a CREATE of `serviceaccounts/token` with the
      // authentication.k8s.io/v1 TokenRequest, mutating plugins before anything is looked up (what
      // they change is what is issued), validating ones (NodeRestriction among them) before signing.
      const request = tokenRequestObject(body, namespace, name);
      const admission = admissionRequest(opContext(rq, false, undefined), { operation: 'CREATE', def: rq.def, subresource: 'token', kind: TOKEN_REQUEST_KIND, object: request, name, namespace });
      await registry.admit(admission, 'mutate');
      const spec = (isPlainObject(request.spec) ? request.spec : {}) as TokenRequestSpec;
      const saDef = registry.defFor('', 'serviceaccounts');
      const podDef = registry.defFor('', 'pods');
      if (!saDef) throw statusErrors.notFoundPath();
      const sa = (await registry.storeFor(saDef).tryGet(namespace, name))?.obj;
      if (!sa) throw notFound('serviceaccounts', name);

      let exp = spec.expirationSeconds ?? 3600;
      if (!Number.isInteger(exp)) throw invalid('spec.expirationSeconds', `Invalid value: ${String(exp)}: must be an integer`, name);
      if (exp < minExpirationSeconds) throw invalid('spec.expirationSeconds', `Invalid value: ${exp}: may not specify a duration less than 10 minutes`, name);
      if (exp > 2 ** 32) throw invalid('spec.expirationSeconds', `Invalid value: ${exp}: may not specify a duration larger than 2^32 seconds`, name);
      exp = Math.min(exp, tokens.maxExpirationSeconds);
      const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : tokens.audiences;
      if (!audiences.every((a) => typeof a === 'string' && a !== '')) throw invalid('spec.audiences', 'Invalid value: audiences must be non-empty strings', name);

      let pod: KubeObject | undefined;
      const ref = spec.boundObjectRef;
      if (ref) {
        if (ref.kind !== 'Pod' || (ref.apiVersion ?? 'v1') !== 'v1') {
          throw badRequest(`cannot bind token for serviceaccounts "${name}" to object of type ${ref.apiVersion ?? ''}, Kind=${ref.kind ?? ''}`);
        }
        if (!ref.name) throw invalid('spec.boundObjectRef.name', 'Required value', name);
        pod = podDef ? (await registry.storeFor(podDef).tryGet(namespace, ref.name))?.obj : undefined;
        if (!pod) throw notFound('pods', ref.name);
        if (ref.uid && ref.uid !== pod.metadata.uid) {
          throw new HedgeError(
            'Conflict',
            `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
            { details: { kind: 'pods', name: ref.name } },
          );
        }
        const podSa = ((pod.spec ?? {}) as { serviceAccountName?: string }).serviceAccountName ?? 'default';
        if (podSa !== name) throw badRequest(`cannot bind token for serviceaccounts "${name}" to pod "${ref.name}" which runs as "${podSa}"`);
      }
      await registry.admit(admission, 'validate');

      const now = registry.now();
      const issued = tokens.issue({
        namespace,
        serviceAccount: { name, uid: sa.metadata.uid ?? '' },
        audiences,
        expirationSeconds: exp,
        pod: pod ? { name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' } : undefined,
        now,
      });
      const out = {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name, namespace, creationTimestamp: null },
        spec: {
          audiences,
          expirationSeconds: exp,
          boundObjectRef: pod ? { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid } : null,
        },
        status: { token: issued.token, expirationTimestamp: issued.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z') },
      };
      sendJson(rq.res, 201, out);
    },
  };
}
