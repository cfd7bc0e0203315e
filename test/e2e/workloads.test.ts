/**
 * Issue 10's end-to-end check: Deployments, DaemonSets, Jobs, garbage collection, namespace
 * deletion and helm 3, with the real kubectl and helm against `hedge server` + a real `hedge node`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, REPO_ROOT, run } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const helm = [join(REPO_ROOT, '.tools/bin/helm'), '/usr/local/bin/helm', '/usr/bin/helm'].find((p) => existsSync(p));
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('workloads: deployments, daemonsets, jobs, GC, namespaces and helm on a real node', { skip, timeout: 900_000 }, () => {
  let stack: EdgeStack;
  let tmp: string;
  const nodeName = `wl-${process.pid}`;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hedge-workloads-e2e-'));
    stack = await startEdgeStack({ nodes: [{ name: nodeName }] });
  });
  after(async () => {
    await stack?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const kubectl = async (args: string[], input?: string, timeoutMs = 60_000): Promise<string> => {
    const r = await stack.server.kubectl(args, { input, timeoutMs });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const explain = (): string => `node output:\n${stack.node.output().slice(-3000)}\nserver:\n${stack.server.output().slice(-2000)}`;
  const deployment = async (name: string, ns = 'default'): Promise<Deployment> => {
    const r = await stack.server.api('GET', `/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
    return r.body as Deployment;
  };
  const webDeployment = (name: string, replicas: number): string =>
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              {
                name: 'web',
                image: stack.httpdImage,
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    });

  it('a Deployment rolls out readiness-gated; set env rolls with zero unavailable; undo and scale work', async () => {
    await kubectl(['apply', '-f', '-'], webDeployment('web', 2));
    await kubectl(['rollout', 'status', 'deployment/web', '--timeout=180s'], undefined, 190_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${explain()}`);
    });
    const first = await deployment('web');
    assert.equal(first.status?.availableReplicas, 2);
    let minAvailable = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const d = await deployment('web');
        minAvailable = Math.min(minAvailable, d.status?.availableReplicas ?? 0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await kubectl(['set', 'env', 'deployment/web', 'COLOR=blue']);
    await kubectl(['rollout', 'status', 'deployment/web', '--timeout=180s'], undefined, 190_000);
    sampling = false;
    await sampler;
    assert.ok(minAvailable >= 2, `zero unavailable during the rollout (min available ${minAvailable})`);
    const rs = JSON.parse(await kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json'])) as { items: { spec: { replicas: number }; metadata: { annotations: Record<string, string> } }[] };
    assert.equal(rs.items.length, 2);
    assert.deepEqual(rs.items.map((x) => x.spec.replicas).sort(), [0, 2]);
    const history = await kubectl(['rollout', 'history', 'deployment/web']);
    assert.match(history, /^1\s/m);
    assert.match(history, /^2\s/m);
    await kubectl(['rollout', 'undo', 'deployment/web']);
    await kubectl(['rollout', 'status', 'deployment/web', '--timeout=180s'], undefined, 190_000);
    const undone = await deployment('web');
    assert.equal(undone.spec?.template.spec?.containers[0].env, undefined, 'undo returned to the first template');
    assert.equal(undone.metadata?.annotations?.['deployment.kubernetes.io/revision'], '3');
    await kubectl(['scale', 'deployment/web', '--replicas=3']);
    await kubectl(['rollout', 'status', 'deployment/web', '--timeout=180s'], undefined, 190_000);
    const pods = JSON.parse(await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json'])) as { items: { metadata: { deletionTimestamp?: string }; status: { phase: string } }[] };
    // pods replaced by the undo may still be in their grace period
    assert.equal(pods.items.filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp).length, 3);
  });

  it('deleting a Deployment with --cascade=orphan keeps its ReplicaSet and Pods; a plain delete removes them', async () => {
    await kubectl(['delete', 'deployment/web', '--cascade=orphan']);
    const rs = JSON.parse(await kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json'])) as { items: { metadata: { name: string; ownerReferences?: unknown[] } }[] };
    assert.ok(rs.items.length >= 1);
    assert.ok(rs.items.every((x) => x.metadata.ownerReferences === undefined));
    await kubectl(['delete', 'rs', '-l', 'app=web', '--wait=true', '--timeout=60s'], undefined, 70_000);
    await waitUntil('web pods gone', 90_000, async () => {
      const out = await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'name']);
      return out.trim() === '' ? true : undefined;
    });
    await kubectl(['apply', '-f', '-'], webDeployment('gone', 2));
    await kubectl(['rollout', 'status', 'deployment/gone', '--timeout=180s'], undefined, 190_000);
    await kubectl(['delete', 'deployment/gone', '--wait=true']);
    await waitUntil('ReplicaSets and Pods of a deleted Deployment gone', 90_000, async () => {
      const out = await kubectl(['get', 'rs,pods', '-l', 'app=gone', '-o', 'name']);
      return out.trim() === '' ? true : undefined;
    });
  });

  it('a DaemonSet runs on every node', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'agent' },
        spec: {
          selector: { matchLabels: { app: 'agent' } },
          template: { metadata: { labels: { app: 'agent' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'a', image: stack.busyboxImage, command: ['sleep', '3600'] }] } },
        },
      }),
    );
    await kubectl(['rollout', 'status', 'daemonset/agent', '--timeout=180s'], undefined, 190_000);
    const nodes = (await kubectl(['get', 'nodes', '-o', 'name'])).trim().split('\n');
    const pods = JSON.parse(await kubectl(['get', 'pods', '-l', 'app=agent', '-o', 'json'])) as { items: { spec: { nodeName: string }; status: { phase: string } }[] };
    assert.deepEqual(pods.items.map((p) => `node/${p.spec.nodeName}`).sort(), nodes.sort());
    assert.ok(pods.items.every((p) => p.status.phase === 'Running'));
    await kubectl(['delete', 'daemonset/agent', '--wait=true']);
  });

  it('a Job completes and kubectl logs job/NAME shows its output', async () => {
    await kubectl(['create', 'job', 'hello', `--image=${stack.busyboxImage}`, '--', 'echo', 'hello-from-job']);
    await kubectl(['wait', '--for=condition=complete', 'job/hello', '--timeout=180s'], undefined, 190_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${explain()}`);
    });
    assert.match(await kubectl(['logs', 'job/hello']), /hello-from-job/);
    assert.match(await kubectl(['get', 'job', 'hello']), /Complete\s+1\/1/);
  });

  it('a CronJob fires on its schedule: its Job completes and its output is in the logs', async () => {
    // every minute: the first run comes within 60 s of creation (the controller follows the wall clock)
    await kubectl(['create', 'cronjob', 'tick', `--image=${stack.busyboxImage}`, '--schedule=* * * * *', '--', 'echo', 'tick-from-cron']);
    const job = await waitUntil('the CronJob made a Job that completed', 150_000, async () => {
      const r = await stack.server.api('GET', '/apis/batch/v1/namespaces/default/jobs');
      const jobs = (r.body as { items: { metadata: { name: string; ownerReferences?: { kind: string; name: string }[] }; status?: { succeeded?: number } }[] }).items;
      return jobs.find((j) => j.metadata.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === 'tick') && (j.status?.succeeded ?? 0) >= 1)?.metadata.name;
    }, explain);
    assert.match(await kubectl(['logs', `job/${job}`]), /tick-from-cron/);
    assert.match(await kubectl(['get', 'cronjob', 'tick', '-o', 'jsonpath={.status.lastSuccessfulTime}']), /^\d{4}-\d\d-\d\dT/);
    await kubectl(['delete', 'cronjob', 'tick']);
  });

  it('deleting a namespace removes everything in it', async () => {
    await kubectl(['create', 'namespace', 'scratch']);
    await kubectl(['-n', 'scratch', 'create', 'deployment', 'd', `--image=${stack.busyboxImage}`, '--', 'sleep', '3600']);
    await kubectl(['-n', 'scratch', 'create', 'configmap', 'cm', '--from-literal=a=b']);
    await waitUntil('scratch pod running', 120_000, async () => ((await kubectl(['-n', 'scratch', 'get', 'pods'])).includes('Running') ? true : undefined), explain);
    await kubectl(['delete', 'namespace', 'scratch', '--wait=true', '--timeout=120s'], undefined, 130_000);
    const r = await stack.server.kubectl(['get', 'namespace', 'scratch']);
    assert.notEqual(r.code, 0);
    const left = await stack.server.api('GET', '/apis/apps/v1/namespaces/scratch/replicasets');
    assert.equal((left.body as { items: unknown[] }).items.length, 0);
  });

  it('helm 3 installs, upgrades and uninstalls the chart `helm create` makes', { skip: helm ? false : 'no helm (run scripts/setup.sh)' }, async () => {
    const h = async (args: string[], timeoutMs = 240_000): Promise<string> => {
      const r = await run(helm as string, args, { env: { ...process.env, KUBECONFIG: stack.server.kubeconfig, HOME: tmp, HELM_CACHE_HOME: join(tmp, 'hc'), HELM_CONFIG_HOME: join(tmp, 'hcfg'), HELM_DATA_HOME: join(tmp, 'hd') }, timeoutMs, cwd: tmp });
      assert.equal(r.code, 0, `helm ${args.join(' ')}: ${r.stderr}\n${explain()}`);
      return r.stdout;
    };
    await h(['create', 'demo']);
    const [repo, tag] = stack.httpdImage.split(/:(?=[^:/]+$)/);
    // the chart's probes hit the named port `http` = service.port; the httpd image serves on 8080
    const values = ['--set', `image.repository=${repo}`, '--set', `image.tag=${tag}`, '--set', 'service.port=8080'];
    // --wait: helm waits for the Deployment's pods to be ready and for the Service's ClusterIP
    await h(['install', 'demo', './demo', ...values, '--wait', '--timeout', '4m']);
    assert.match(await kubectl(['get', 'deployment', 'demo']), /1\/1/);
    assert.match(await kubectl(['get', 'service', 'demo', '-o', 'jsonpath={.spec.clusterIP}']), /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(await kubectl(['get', 'serviceaccount', 'demo']), /demo/);
    await h(['upgrade', 'demo', './demo', ...values, '--set', 'replicaCount=2', '--wait', '--timeout', '4m']);
    assert.match(await kubectl(['get', 'deployment', 'demo']), /2\/2/);
    await h(['uninstall', 'demo', '--wait', '--timeout', '4m']);
    await waitUntil('nothing left of the release', 120_000, async () => {
      const out = await kubectl(['get', 'deploy,rs,pods,svc,sa,secrets', '-l', 'app.kubernetes.io/instance=demo', '-o', 'name']);
      const sa = await stack.server.kubectl(['get', 'serviceaccount', 'demo']);
      return out.trim() === '' && sa.code !== 0 ? true : undefined;
    });
  });
});
