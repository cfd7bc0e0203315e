import { HedgeError } from '../lib/errors.ts';
import { apiRequest, type ApiCredentials } from './api-request.ts';

interface Named {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: string };
  status?: { phase?: string };
}

const DEMO_OBJECTS: { path: string; obj: Record<string, unknown> }[] = [
  { path: '/api/v1/namespaces', obj: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } } },
  {
    path: '/api/v1/namespaces/demo/configmaps',
    obj: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'greeting', namespace: 'demo' },
      data: { message: 'hello from hedge' },
    },
  },
  {
    path: '/api/v1/namespaces/demo/pods',
    obj: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hello', namespace: 'demo', labels: { app: 'hello' } },
      spec: { containers: [{ name: 'hello', image: 'busybox:stable', command: ['sh', '-c', 'echo hello; sleep 3600'] }] },
    },
  },
];

/**
 * Create a namespace, a ConfigMap and a Pod through the API (existing ones are kept,
 * so `hedge up` can be rerun on the same data dir) and return a printable listing.
 */
export async function runDemo(creds: ApiCredentials, signal?: AbortSignal): Promise<string> {
  for (const { path, obj } of DEMO_OBJECTS) {
    const r = await apiRequest(creds, 'POST', path, obj, { signal });
    if (r.status !== 201 && r.status !== 200 && r.status !== 409) {
      throw new HedgeError('Internal', `demo: POST ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
  }
  const lines = ['KIND        NAMESPACE  NAME       STATUS'];
  for (const [kind, path] of [
    ['Namespace', '/api/v1/namespaces/demo'],
    ['ConfigMap', '/api/v1/namespaces/demo/configmaps'],
    ['Pod', '/api/v1/namespaces/demo/pods'],
  ] as const) {
    const r = await apiRequest(creds, 'GET', path, undefined, { signal });
    if (r.status !== 200) throw new HedgeError('Internal', `demo: GET ${path} answered ${r.status}`);
    const body = r.body as Named & { items?: Named[] };
    for (const o of body.items ?? [body]) {
      const ns = o.metadata?.namespace ?? '-';
      const status = kind === 'Pod' ? (o.status?.phase ?? 'Pending') : kind === 'Namespace' ? 'Active' : '-';
      lines.push(`${kind.padEnd(11)} ${ns.padEnd(10)} ${(o.metadata?.name ?? '').padEnd(10)} ${status}`);
    }
  }
  return lines.join('\n');
}
