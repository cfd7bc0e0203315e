import { statusErrors } from '../status.ts';
import { handleGet, handleList } from './read.ts';
import type { RequestScope } from './scope.ts';
import { handleWatch } from './watch.ts';
import { handleCreate, handleDelete, handleDeleteCollection, handlePatch, handleUpdate } from './write.ts';

/** Dispatch one resource request by verb (the route table upstream builds per resource). */
export async function serveResource(rq: RequestScope): Promise<void> {
  const { info, def } = rq;
  const method = rq.req.method ?? 'GET';
  const sub = info.subresource;
  if (sub !== '' && !def.subresources.includes(sub)) throw statusErrors.notFoundPath();
  // The main resource's verbs gate it; subresources have their own small verb sets.
  const verb = info.verb;
  if (sub === '' && verb !== 'get' && !def.verbs.includes(verb as never)) throw statusErrors.methodNotAllowed(method, def.plural);
  switch (verb) {
    case 'get':
      if (sub !== '' && sub !== 'status' && sub !== 'ephemeralcontainers') throw statusErrors.notFoundPath();
      if (!def.verbs.includes('get')) throw statusErrors.methodNotAllowed(method, def.plural);
      return handleGet(rq);
    case 'list':
      return handleList(rq);
    case 'watch':
      return handleWatch(rq);
    case 'create':
      return handleCreate(rq);
    case 'update':
      if (info.name === '') throw statusErrors.methodNotAllowed(method, def.plural);
      return handleUpdate(rq);
    case 'patch':
      if (info.name === '') throw statusErrors.methodNotAllowed(method, def.plural);
      return handlePatch(rq);
    case 'delete':
      return handleDelete(rq);
    case 'deletecollection':
      return handleDeleteCollection(rq);
    default:
      throw statusErrors.methodNotAllowed(method, def.plural);
  }
}
