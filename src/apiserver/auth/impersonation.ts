import type { IncomingMessage } from 'node:http';
import { parseServiceAccountUsername } from '../../api/rbac/index.ts';
import { forbidden, type AuthorizationAttributes, type Authorizer } from './authorizer.ts';
import { badRequest } from '../../lib/errors.ts';
import type { UserInfo } from './types.ts';

const AUTHENTICATED = 'system:authenticated';
const UNAUTHENTICATED = 'system:unauthenticated';
const ANONYMOUS = 'system:anonymous';

function headerValues(req: IncomingMessage, name: string): string[] {
  const v = req.headers[name];
  if (v === undefined) return [];
  // Node joins repeated headers with ", "; upstream sends one header per group
  return (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

function attrs(verb: string, group: string, resource: string, name: string, namespace = '', subresource = ''): AuthorizationAttributes {
  return { isResourceRequest: true, verb: verb as AuthorizationAttributes['verb'], apiPrefix: group ? 'apis' : 'api', group, version: '', namespace, resource, subresource, name, path: '' };
}

/**
 * `Impersonate-User` / `-Group` / `-Uid` / `-Extra-*` as kube-apiserver's impersonation filter:
 * each asked-for attribute needs the `impersonate` verb on `users`, `serviceaccounts` (in the
 * account's namespace), `groups`, `uids` or `userextras/<key>`; the request then runs as that
 * user. Returns the caller unchanged when no impersonation header is present.
 */
export async function impersonate(req: IncomingMessage, caller: UserInfo, authorizer: Authorizer): Promise<UserInfo> {
  const username = req.headers['impersonate-user'];
  const groups = headerValues(req, 'impersonate-group');
  const uid = req.headers['impersonate-uid'];
  const extraKeys = Object.keys(req.headers).filter((h) => h.startsWith('impersonate-extra-'));
  if (username === undefined) {
    if (groups.length || uid !== undefined || extraKeys.length) throw badRequest('requested Impersonate-Group, Impersonate-Uid or Impersonate-Extra without Impersonate-User');
    return caller;
  }
  const name = Array.isArray(username) ? username[0] : username;
  if (!name) throw badRequest('Impersonate-User must not be empty');
  const check = async (a: AuthorizationAttributes): Promise<void> => {
    const d = await authorizer.authorize(caller, a);
    if (!d.allowed) throw forbidden(caller, a, d.reason);
  };
  const sa = parseServiceAccountUsername(name);
  const out: UserInfo = { username: name, groups: [...groups] };
  if (sa) {
    await check(attrs('impersonate', '', 'serviceaccounts', sa.name, sa.namespace));
    if (groups.length === 0) out.groups = ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`];
  } else {
    await check(attrs('impersonate', '', 'users', name));
    if (groups.length === 0 && name === ANONYMOUS) out.groups = [UNAUTHENTICATED];
  }
  for (const g of groups) await check(attrs('impersonate', '', 'groups', g));
  if (uid !== undefined) {
    const u = Array.isArray(uid) ? uid[0] : uid;
    await check(attrs('impersonate', 'authentication.k8s.io', 'uids', u));
    out.uid = u;
  }
  for (const h of extraKeys) {
    const key = decodeURIComponent(h.slice('impersonate-extra-'.length));
    // upstream: resource userextras, subresource = the extra's key, name = each value
    const values = headerValues(req, h);
    for (const v of values) await check(attrs('impersonate', 'authentication.k8s.io', 'userextras', v, '', key));
    (out.extra ??= {})[key] = values;
  }
  if (name !== ANONYMOUS && !out.groups.includes(AUTHENTICATED)) out.groups.push(AUTHENTICATED);
  return out;
}
