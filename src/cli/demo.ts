import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { HedgeError } from '../lib/errors.ts';
import { apiRequest, type ApiCredentials } from './api-request.ts';

export const DEMO_NAMESPACE = 'demo';
const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface DemoImage {
  /** what the pods name in `image:` */
  ref: string;
  /** Never when the image was imported into the node rather than pushed to a registry */
  pullPolicy: 'IfNotPresent' | 'Never';
  /** where it came from, for the printout */
  source: string;
  /** the demo registry's process and temp dir, if one was started (a crashed `hedge up` leaves them) */
  registry?: { pid: number; dir: string };
  /** stop the demo registry, if one was started */
  stop(): Promise<void>;
}

/**
 * The demo's web image (busybox httpd from Debian's busybox-static, built by the project's
 * fixture builder): pushed to a docker-registry started on loopback, or, without one,
 * imported straight into the node's image store.
 */
export interface ImageImporter {
  import(path: string, opts: { signal: AbortSignal }): Promise<{ ref: string }[]>;
}

export async function prepareDemoImage(opts: { workDir: string; images: ImageImporter; signal: AbortSignal }): Promise<DemoImage> {
  if (!existsSync('/bin/busybox')) throw new HedgeError('Unavailable', 'demo: /bin/busybox missing (install busybox-static; scripts/setup.sh does)');
  // fixture code is shared with the tests on purpose: one builder for every image hedge makes
  const { buildTestImages } = await import('./demo-images/build.ts');
  const built = await buildTestImages(opts.workDir);
  if (existsSync(REGISTRY_BINARY)) {
    const { startRegistry, pushLayout } = await import('./demo-images/registry.ts');
    const registry = await startRegistry();
    try {
      await pushLayout(built.layoutDir, registry.url, 'demo/httpd:1', 'httpd');
    } catch (err) {
      await registry.stop();
      throw err;
    }
    return { ref: `${registry.host}/demo/httpd:1`, pullPolicy: 'IfNotPresent', source: `docker-registry at ${registry.url}`, registry: { pid: registry.pid, dir: registry.dir }, stop: () => registry.stop() };
  }
  const infos = await opts.images.import(built.layoutDir, { signal: opts.signal });
  const httpd = infos.find((i) => /httpd/.test(i.ref) && !/docker/.test(i.ref));
  if (!httpd) throw new HedgeError('Internal', `demo: imported ${infos.map((i) => i.ref).join(', ')} but no httpd`);
  return { ref: httpd.ref, pullPolicy: 'Never', source: `imported from ${join(opts.workDir, 'oci')} (no docker-registry installed)`, stop: async () => undefined };
}

export function demoPod(name: string, runtimeClassName: string, image: DemoImage): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: DEMO_NAMESPACE, labels: { app: 'hello', runtime: runtimeClassName } },
    spec: {
      runtimeClassName,
      // httpd as pid 1 ignores SIGTERM; do not make Ctrl-C wait 30 s for it
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'web',
          image: image.ref,
          imagePullPolicy: image.pullPolicy,
          // -v: one log line per request, so `kubectl logs` shows the demo's own fetch
          command: ['sh', '-c', `echo "${name}: serving /www on :8080 under ${runtimeClassName}"; exec httpd -f -v -p 8080 -h /www`],
          ports: [{ containerPort: 8080, name: 'http' }],
          // Ready = httpd listening: the demo fetches the page as soon as every pod is Ready
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
        },
      ],
    },
  };
}

async function call(creds: ApiCredentials, method: string, path: string, body: unknown, ok: number[], signal: AbortSignal): Promise<unknown> {
  const r = await apiRequest(creds, method, path, body, { signal });
  if (!ok.includes(r.status)) throw new HedgeError('Internal', `demo: ${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function poll<T>(what: string, timeoutMs: number, signal: AbortSignal, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new HedgeError('Timeout', `demo: ${what} did not happen within ${timeoutMs / 1000} s`);
    // the listener goes with each wait: one left per 250 ms on a shared signal was hedge up's
    // MaxListenersExceededWarning on Ctrl-C (while the demo pods were deleted)
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(t);
        reject(signal.reason as Error);
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, 250);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

const podPath = (name?: string): string => `/api/v1/namespaces/${DEMO_NAMESPACE}/pods${name ? `/${name}` : ''}`;

/** Delete the named demo pods (if present) and wait until the node has torn them down and the objects are gone. */
export async function deleteDemoPods(creds: ApiCredentials, names: string[], signal: AbortSignal, timeoutMs = 60_000): Promise<void> {
  for (const n of names) await call(creds, 'DELETE', podPath(n), undefined, [200, 202, 404], signal);
  await poll('demo pods deleted', timeoutMs, signal, async () => {
    for (const n of names) if ((await apiRequest(creds, 'GET', podPath(n), undefined, { signal })).status !== 404) return undefined;
    return true;
  });
}

/** Create the demo namespace and one web pod per runtime; resolve once all are Running and Ready with an IP. */
export async function runDemoPods(creds: ApiCredentials, pods: Pod[], signal: AbortSignal, timeoutMs = 120_000): Promise<Pod[]> {
  await call(creds, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } }, [200, 201, 409], signal);
  // a previous run may have left pods that point at an old registry port
  await deleteDemoPods(creds, pods.map((p) => p.metadata!.name!), signal);
  for (const p of pods) await call(creds, 'POST', podPath(), p, [201], signal);
  return poll('demo pods Running', timeoutMs, signal, async () => {
    const out: Pod[] = [];
    for (const p of pods) {
      const cur = (await call(creds, 'GET', podPath(p.metadata!.name), undefined, [200], signal)) as Pod;
      const waiting = cur.status?.containerStatuses?.[0]?.state?.waiting;
      if (waiting && ['ErrImagePull', 'ImagePullBackOff', 'CreateContainerError', 'CrashLoopBackOff'].includes(waiting.reason ?? '')) {
        throw new HedgeError('Internal', `demo: pod ${cur.metadata?.name}: ${waiting.reason}: ${waiting.message ?? ''}`);
      }
      if (cur.status?.phase === 'Failed') throw new HedgeError('Internal', `demo: pod ${cur.metadata?.name} failed: ${JSON.stringify(cur.status)}`);
      if (cur.status?.phase !== 'Running' || !cur.status.podIP || !cur.status.containerStatuses?.[0]?.ready) return undefined;
      out.push(cur);
    }
    return out;
  });
}

/** GET http://<podIP>:8080/ — straight from the host into the pod's network namespace over the bridge. */
export function fetchPodPage(ip: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: ip, port: 8080, path: '/', agent: false, timeout: 5_000, signal }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new HedgeError('Timeout', `GET http://${ip}:8080/: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

function age(from: string | undefined, now: number): string {
  if (!from) return '<unknown>';
  const s = Math.max(0, Math.round((now - Date.parse(from)) / 1000));
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

/** `kubectl get pods -o wide`, plus the RuntimeClass column the demo is about. */
export function formatPodsWide(pods: Pod[], now = Date.now()): string {
  const rows = [['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'RUNTIMECLASS']];
  for (const p of pods) {
    const cs = p.status?.containerStatuses ?? [];
    rows.push([
      p.metadata?.name ?? '',
      `${cs.filter((c) => c.ready).length}/${p.spec?.containers.length ?? 0}`,
      p.status?.phase ?? 'Pending',
      String(cs.reduce((n, c) => n + (c.restartCount ?? 0), 0)),
      age(p.metadata?.creationTimestamp, now),
      p.status?.podIP ?? '<none>',
      p.spec?.nodeName ?? '<none>',
      p.spec?.runtimeClassName ?? '<none>',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('')).join('\n');
}
