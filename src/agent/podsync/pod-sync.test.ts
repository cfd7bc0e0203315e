import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ContainerStatus, Pod } from 'kubernetes-types/core/v1.js';
import { Resources } from '../../client/resources.ts';
import type { KubeObject } from '../../api/object.ts';
import { Labels } from './labels.ts';
import { HedgeError } from '../../lib/errors.ts';
import { volumeDir } from '../volumes/paths.ts';
import { eventually, Harness } from './testing/harness.ts';
import type { ContainerId, ContainerStatus as RuntimeContainerStatus, SandboxConfig, SandboxId } from '../runtime/types.ts';
import { FakeRuntime } from '../runtime/testing/fake-runtime.ts';
import { admitUnderPressure, type PressureCondition } from '../eviction/helpers.ts';

const cs = (p: Pod, name: string): ContainerStatus | undefined => p.status?.containerStatuses?.find((c) => c.name === name);
const cond = (p: Pod, type: string): string | undefined => p.status?.conditions?.find((c) => c.type === type)?.status;
const app = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'app', image: 'busybox:1', ...over });
/** the first `times` status writes of pod `name` fail as if the API were unreachable (no hub) */
function cloudAway(h: Harness, name: string, times: number): { refused: number; restore: () => void } {
  const patch = h.client.patch.bind(h.client);
  const out = { refused: 0, restore: () => void (h.client.patch = patch) };
  h.client.patch = (async (...args: Parameters<typeof patch>) => {
    if (args[1] === name && out.refused < times) {
      out.refused++;
      throw new HedgeError('Unavailable', 'the cloud is away');
    }
    return patch(...args);
  }) as typeof h.client.patch;
  return out;
}
const pick = (s: SandboxConfig | undefined) => Object.fromEntries(Object.entries(s ?? {}).filter(([k]) => ['shareIpc', 'hostIpc', 'hostPid', 'sharePid'].includes(k)));

describe('pod sync lifecycle', () => {
  let h: Harness;
  before(async () => {
    h = await new Harness().init();
    h.start();
  });
  after(() => h.close());

  it('runs a pod to Running with pod IP, conditions and container status, then Succeeded', async () => {
    await h.createPod('ok', { restartPolicy: 'Never', containers: [app()] });
    const p = await h.until('ok', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    assert.match(p.status?.podIP ?? '', /^10\.88\.0\.\d+$/);
    assert.equal(p.status?.hostIP, '192.0.2.10');
    assert.ok(p.status?.startTime);
    const c = cs(p, 'app');
    assert.ok(c?.state?.running);
    assert.match(c?.containerID ?? '', /^hedge:\/\/[0-9a-f]{32}$/);
    assert.equal(c?.restartCount, 0);
    assert.equal(cond(p, 'PodReadyToStartContainers'), 'True');
    assert.equal(cond(p, 'Initialized'), 'True');
    // the ContainerConfig carries the adoption labels and the merged command
    const rc = h.runtime.byName('app');
    assert.equal(rc?.cfg.labels[Labels.podUid], p.metadata?.uid);
    assert.deepEqual(rc?.cfg.command, ['/bin/sh', '-c', 'sleep 1000']);
    // resolv.conf never carries the host's loopback resolver
    const sb = [...h.runtime.sandboxes.values()].find((s) => s.pod.name === 'ok');
    assert.equal(sb?.resolvConf.includes('127.0.0.53'), false);
    assert.match(sb?.resolvConf ?? '', /nameserver 192\.0\.2\.53/);
    assert.match(sb?.hostsFile ?? '', new RegExp(`${p.status?.podIP}\\tok`));
    // this node has no cluster DNS: the ClusterFirst pod fell back to the host's, with the kubelet's warning
    const warned = h.events.events.find((e) => e.name === 'ok' && e.reason === 'MissingClusterDNS');
    assert.equal(warned?.type, 'Warning');
    assert.match(warned?.message ?? '', /^pod: "ok_default\(.+\)"\. kubelet does not have ClusterDNS IP configured/);
    // and on the Node, as the kubelet's dns.go
    const onNode = h.events.events.find((e) => e.kind === 'Node' && e.reason === 'MissingClusterDNS');
    assert.equal(onNode?.type, 'Warning');
    assert.match(onNode?.message ?? '', /^kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy/);

    h.runtime.exit(rc!.id, 0);
    const done = await h.until('ok', (x) => x.status?.phase === 'Succeeded', 'Succeeded');
    assert.equal(cs(done, 'app')?.state?.terminated?.exitCode, 0);
    assert.equal(cs(done, 'app')?.state?.terminated?.reason, 'Completed');
    await eventually(() => ![...h.runtime.sandboxes.values()].some((s) => s.pod.name === 'ok'), 'sandbox released');
  });

  it("a start's Started event goes out after the status write that reports Running, not beside it", async () => {
    const order: string[] = [];
    const emit = h.events.emit.bind(h.events);
    const patch = h.client.patch.bind(h.client);
    h.events.emit = (ev) => {
      if (ev.involved.metadata?.name === 'evorder') order.push(`event ${ev.reason}`);
      emit(ev);
    };
    h.client.patch = (async (...args: Parameters<typeof patch>) => {
      const out = await patch(...args);
      const status = (args[3] as { status?: { phase?: string } }).status;
      if (args[1] === 'evorder' && args[4]?.subresource === 'status') order.push(`status ${status?.phase ?? ''}`);
      return out;
    }) as typeof patch;
    try {
      await h.createPod('evorder', { containers: [app()] });
      await h.until('evorder', (x) => x.status?.phase === 'Running', 'Running');
      await eventually(() => order.includes('event Started'), 'Started event');
      assert.ok(order.indexOf('status Running') < order.indexOf('event Started'), order.join(', '));
    } finally {
      h.events.emit = emit;
      h.client.patch = patch;
    }
  });

  it('a dual-stack pod reports both addresses in status.podIPs, the IPv4 one first as podIP', async () => {
    h.network.ipv6 = true;
    try {
      await h.createPod('dual', { containers: [app()] });
      const p = await h.until('dual', (x) => x.status?.phase === 'Running' && (x.status.podIPs?.length ?? 0) > 0, 'Running with podIPs');
      assert.match(p.status?.podIP ?? '', /^10\.88\.0\.\d+$/);
      assert.equal(p.status?.podIPs?.length, 2);
      assert.equal(p.status?.podIPs?.[0]?.ip, p.status?.podIP);
      assert.match(p.status?.podIPs?.[1]?.ip ?? '', /^fd00:88::[0-9a-f]+$/);
    } finally {
      h.network.ipv6 = false;
    }
  });

  it('a bad command fails the pod with the exit code (restartPolicy Never)', async () => {
    h.runtime.behaviors.set('bad', { kind: 'exit', code: 127, reason: 'Error' });
    await h.createPod('bad', { restartPolicy: 'Never', containers: [app({ name: 'bad', command: ['/nope'] })] });
    const p = await h.until('bad', (x) => x.status?.phase === 'Failed', 'Failed');
    assert.equal(cs(p, 'bad')?.state?.terminated?.exitCode, 127);
    assert.equal(cs(p, 'bad')?.restartCount, 0);
  });

  it('terminationMessagePolicy FallbackToLogsOnError: a failed container without a message reports its log\'s last 80 lines, at most 2 KiB', async () => {
    await h.createPod('fallback', { restartPolicy: 'Never', containers: [app({ name: 'f', terminationMessagePolicy: 'FallbackToLogsOnError' })] });
    await h.until('fallback', (x) => cs(x, 'f')?.state?.running !== undefined, 'running');
    const { id, cfg } = h.runtime.byName('f')!;
    const lines = Array.from({ length: 100 }, (_, i) => `2026-01-01T00:00:00.000000000Z ${i % 2 ? 'stderr' : 'stdout'} F line ${i}`);
    // a partial record joined to the next, as the kubelet's reader does
    lines.push('2026-01-01T00:00:00.000000000Z stderr P fatal: ', '2026-01-01T00:00:00.000000000Z stderr F out of cheese');
    await mkdir(dirname(cfg.logPath), { recursive: true });
    await writeFile(cfg.logPath, `${lines.join('\n')}\n`);
    h.runtime.exit(id, 2);
    const p = await h.until('fallback', (x) => x.status?.phase === 'Failed', 'Failed');
    const message = cs(p, 'f')?.state?.terminated?.message ?? '';
    assert.ok(message.endsWith('line 99\nfatal: out of cheese'), message.slice(-80));
    assert.ok(message.startsWith('line 21\n'), message.slice(0, 40));
    assert.equal(message.split('\n').length, 80);
    // exit 0, or the default policy: no message from the logs
    await h.createPod('fallback-ok', { restartPolicy: 'Never', containers: [app({ name: 'g', terminationMessagePolicy: 'FallbackToLogsOnError' })] });
    await h.until('fallback-ok', (x) => cs(x, 'g')?.state?.running !== undefined, 'running');
    const g = h.runtime.byName('g')!;
    await mkdir(dirname(g.cfg.logPath), { recursive: true });
    await writeFile(g.cfg.logPath, `${lines.join('\n')}\n`);
    h.runtime.exit(g.id, 0);
    const ok = await h.until('fallback-ok', (x) => x.status?.phase === 'Succeeded', 'Succeeded');
    assert.equal(cs(ok, 'g')?.state?.terminated?.message, undefined);
  });

  it('terminationMessagePath: the runtime gets the path and the exit reports what the container wrote there, before its logs', async () => {
    h.runtime.behaviors.set('tm', { kind: 'exit', code: 0, message: 'wrote a file\n' });
    h.runtime.behaviors.set('tm-fb', { kind: 'exit', code: 3, message: 'my own words' });
    await h.createPod('tmsg', {
      restartPolicy: 'Never',
      containers: [
        app({ name: 'tm', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' }),
        app({ name: 'tm-fb', terminationMessagePath: 'var/msg', terminationMessagePolicy: 'FallbackToLogsOnError' }),
        app({ name: 'tm-none', terminationMessagePolicy: 'FallbackToLogsOnError' }),
      ],
    });
    await h.until('tmsg', (x) => cs(x, 'tm-none')?.state?.running !== undefined, 'running');
    assert.equal(h.runtime.byName('tm')!.cfg.terminationMessagePath, '/dev/termination-log');
    assert.equal(h.runtime.byName('tm-fb')!.cfg.terminationMessagePath, '/var/msg', 'a relative path is taken from the root');
    assert.equal(h.runtime.byName('tm-none')!.cfg.terminationMessagePath, undefined);
    const none = h.runtime.byName('tm-none')!;
    await mkdir(dirname(none.cfg.logPath), { recursive: true });
    await writeFile(none.cfg.logPath, '2026-01-01T00:00:00.000000000Z stderr F from the log\n');
    h.runtime.exit(none.id, 1);
    const p = await h.until('tmsg', (x) => x.status?.phase === 'Failed', 'Failed');
    assert.equal(cs(p, 'tm')?.state?.terminated?.message, 'wrote a file\n', 'exit 0 reports it too');
    assert.equal(cs(p, 'tm-fb')?.state?.terminated?.message, 'my own words', 'the file wins over the log');
    assert.equal(cs(p, 'tm-none')?.state?.terminated?.message, 'from the log');
  });

  it('pod namespaces: several containers share IPC, one alone needs no shared one; hostIPC/hostPID and shareProcessNamespace reach the runtime', async () => {
    const sandboxOf = (pod: string) => [...h.runtime.sandboxes.values()].find((x) => x.pod.name === pod);
    await h.createPod('ns-one', { containers: [app({ name: 'one' })] });
    await h.createPod('ns-two', { initContainers: [app({ name: 'two-init' })], containers: [app({ name: 'two' })], shareProcessNamespace: true });
    await h.createPod('ns-host', { containers: [app({ name: 'h1' }), app({ name: 'h2' })], hostIPC: true, hostPID: true, shareProcessNamespace: true });
    h.runtime.behaviors.set('two-init', { kind: 'exit', code: 0 });
    for (const p of ['ns-one', 'ns-two', 'ns-host']) await h.until(p, (x) => x.status?.phase === 'Running', 'Running');
    assert.deepEqual(pick(sandboxOf('ns-one')), { shareIpc: false });
    assert.deepEqual(pick(sandboxOf('ns-two')), { shareIpc: true, sharePid: true });
    // the host's namespaces: nothing of the pod's own to share
    assert.deepEqual(pick(sandboxOf('ns-host')), { shareIpc: false, hostIpc: true, hostPid: true });
  });

  it('ephemeral containers (kubectl debug): started once in the running pod, in the target\'s PID namespace, never restarted, stopped with the pod', async () => {
    await h.createPod('dbg', { containers: [app({ name: 'dbg-main' })] });
    await h.until('dbg', (x) => x.status?.phase === 'Running', 'Running');
    const main = h.runtime.byName('dbg-main')!;
    await h.client.patch(Resources.pods, 'dbg', 'strategic', { spec: { ephemeralContainers: [{ name: 'dbg-e', image: 'busybox:1', targetContainerName: 'dbg-main' }] } }, { namespace: 'default' }); // the fake has no pods/ephemeralcontainers
    let p = await h.until('dbg', (x) => x.status?.ephemeralContainerStatuses?.[0]?.state?.running !== undefined, 'ephemeral running');
    const e = h.runtime.byName('dbg-e')!;
    assert.equal(e.cfg.pidNamespaceOf, main.id, 'joins the target\'s PID namespace');
    assert.equal(e.cfg.labels[Labels.containerKind], 'ephemeral');
    assert.deepEqual([p.status?.ephemeralContainerStatuses?.[0]?.name, p.status?.ephemeralContainerStatuses?.[0]?.ready], ['dbg-e', false]);
    assert.equal(p.status?.containerStatuses?.length, 1, 'not among the app containers');
    h.runtime.exit(e.id, 0);
    p = await h.until('dbg', (x) => x.status?.ephemeralContainerStatuses?.[0]?.state?.terminated !== undefined, 'ephemeral exited');
    assert.equal(p.status?.phase, 'Running', 'the pod\'s phase does not follow it');
    await h.tick();
    await h.tick();
    assert.equal(h.runtime.ops.filter((o) => o === 'start:dbg-e').length, 1, 'never restarted');
    assert.equal((await h.pod('dbg'))?.status?.ephemeralContainerStatuses?.[0]?.restartCount, 0);
    // a second one still running when the pod goes is stopped with it
    const cur = (await h.pod('dbg'))?.spec?.ephemeralContainers ?? [];
    await h.client.patch(Resources.pods, 'dbg', 'merge', { spec: { ephemeralContainers: [...cur, { name: 'dbg-f', image: 'busybox:1' }] } }, { namespace: 'default' });
    await h.until('dbg', (x) => x.status?.ephemeralContainerStatuses?.[1]?.state?.running !== undefined, 'second running');
    await h.client.delete(Resources.pods, 'dbg', { namespace: 'default' });
    for (let i = 0; i < 50 && (await h.pod('dbg')); i++) await h.tick();
    assert.ok(h.runtime.ops.some((o) => o.startsWith('stop:dbg-f:')), h.runtime.ops.join(' '));
  });

  it('an ephemeral container mounts the pod volumes it names: the kube-api-access one a kubectl debug user adds to reach the API', async () => {
    const token = {
      name: 'kube-api-access-x2b4z',
      projected: { defaultMode: 0o644, sources: [{ downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } }] },
    };
    const mount = { name: token.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
    await h.createPod('dbg-vol', { volumes: [token, { name: 'data', emptyDir: {} }], containers: [app({ name: 'dbg-vol-main', volumeMounts: [mount] })] });
    await h.until('dbg-vol', (x) => x.status?.phase === 'Running', 'Running');
    const main = h.runtime.byName('dbg-vol-main')!;
    await h.client.patch(Resources.pods, 'dbg-vol', 'strategic', {
      spec: { ephemeralContainers: [{ name: 'dbg-vol-e', image: 'busybox:1', volumeMounts: [mount, { name: 'data', mountPath: '/data' }] }, { name: 'dbg-vol-bare', image: 'busybox:1' }] },
    }, { namespace: 'default' });
    await h.until('dbg-vol', (x) => (x.status?.ephemeralContainerStatuses ?? []).filter((s) => s.state?.running).length === 2, 'ephemeral running');
    const e = h.runtime.byName('dbg-vol-e')!;
    const tokenMount = e.cfg.mounts.find((m) => m.containerPath === '/var/run/secrets/kubernetes.io/serviceaccount');
    assert.deepEqual(tokenMount, main.cfg.mounts.find((m) => m.containerPath === '/var/run/secrets/kubernetes.io/serviceaccount'), 'the same volume the app container has');
    assert.equal(tokenMount?.readOnly, true);
    assert.equal(await readFile(join(tokenMount!.hostPath, 'namespace'), 'utf8'), 'default');
    assert.ok(e.cfg.mounts.some((m) => m.containerPath === '/data' && !m.readOnly));
    assert.deepEqual(h.runtime.byName('dbg-vol-bare')!.cfg.mounts, [], 'nothing it did not name');
    await h.client.delete(Resources.pods, 'dbg-vol', { namespace: 'default' });
    for (let i = 0; i < 50 && (await h.pod('dbg-vol')); i++) await h.tick();
  });

  it('runs init containers in order, each to completion, before app containers', async () => {
    h.runtime.behaviors.set('init-a', { kind: 'exit', code: 0 });
    h.runtime.behaviors.set('init-b', { kind: 'exit', code: 0 });
    await h.createPod('inits', {
      initContainers: [app({ name: 'init-a' }), app({ name: 'init-b' })],
      containers: [app({ name: 'main' })],
    });
    const p = await h.until('inits', (x) => x.status?.phase === 'Running', 'Running');
    const starts = h.runtime.ops.filter((o) => /^start:(init-a|init-b|main)$/.test(o));
    assert.deepEqual(starts, ['start:init-a', 'start:init-b', 'start:main']);
    assert.equal(p.status?.initContainerStatuses?.[0].state?.terminated?.exitCode, 0);
    assert.equal(cond(p, 'Initialized'), 'True');
  });

  it('resolves env (fieldRef, configMapKeyRef, $(VAR)) and reports a missing configMap as CreateContainerConfigError', async () => {
    await h.createPod('envy', {
      containers: [
        app({
          name: 'envy',
          command: ['echo', '$(GREETING) $(NOPE)'],
          env: [
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'WHO', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'who' } } },
            { name: 'GREETING', value: 'hi $(WHO) from $(POD)' },
          ],
        }),
      ],
    });
    const p = await h.until('envy', (x) => cs(x, 'envy')?.state?.waiting?.reason === 'CreateContainerConfigError', 'config error');
    assert.equal(cs(p, 'envy')?.state?.waiting?.message, 'configmap "cfg" not found');
    assert.equal(p.status?.phase, 'Pending');
    // the rootfs prepared beside volumes and env went with the failed attempt
    assert.ok(![...h.snapshotter.snapshots.values()].some((x) => x.kind === 'active' && x.labels[Labels.podUid] === p.metadata?.uid), 'no snapshot left by the failed attempt');
    await h.client.create(Resources.configmaps, { metadata: { name: 'cfg', namespace: 'default' }, data: { who: 'bob' } });
    const ok = await h.until('envy', (x) => x.status?.phase === 'Running', 'Running');
    const env = Object.fromEntries(h.runtime.byName('envy')!.cfg.env.map((e) => [e.name, e.value]));
    assert.equal(env.POD, 'envy');
    assert.equal(env.IP, ok.status?.podIP);
    assert.equal(env.GREETING, 'hi bob from envy');
    assert.equal(env.PATH, '/bin');
    assert.deepEqual(h.runtime.byName('envy')!.cfg.command, ['echo', 'hi bob from envy $(NOPE)']);
  });

  it('service variables: the apiserver\'s always (in-cluster clients read KUBERNETES_SERVICE_HOST/PORT), the namespace\'s with service links, usable in $(VAR)', async () => {
    await h.client.create(Resources.services, { metadata: { name: 'kubernetes', namespace: 'default' }, spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] } } as KubeObject);
    await h.client.create(Resources.services, { metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: '10.96.0.9', ports: [{ port: 5432, protocol: 'TCP' }] } } as KubeObject);
    await eventually(async () => (await h.client.list(Resources.services)).items.length === 2, 'services stored');
    await h.createPod('svc-env', { containers: [app({ name: 'se', env: [{ name: 'DB_URL', value: 'postgres://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)/x' }, { name: 'DB_PORT', value: 'mine' }] })] });
    await h.createPod('no-links', { enableServiceLinks: false, containers: [app({ name: 'nl' })] });
    for (const p of ['svc-env', 'no-links']) await h.until(p, (x) => x.status?.phase === 'Running', 'Running');
    const env = (name: string) => Object.fromEntries(h.runtime.byName(name)!.cfg.env.map((e) => [e.name, e.value]));
    const se = env('se');
    assert.equal(se.KUBERNETES_SERVICE_HOST, '10.96.0.1');
    assert.equal(se.KUBERNETES_SERVICE_PORT, '443');
    assert.equal(se.DB_URL, 'postgres://10.96.0.9:5432/x');
    assert.equal(se.DB_PORT, 'mine', 'the container\'s own env wins');
    const nl = env('nl');
    assert.equal(nl.KUBERNETES_SERVICE_HOST, '10.96.0.1');
    assert.equal(nl.DB_SERVICE_HOST, undefined);
  });

  it('reports an unpullable image as ErrImagePull, then ImagePullBackOff with the registry message', async () => {
    await h.createPod('nopull', { containers: [app({ name: 'np', image: 'ghost:1' })] });
    let p: Pod | undefined;
    await eventually(async () => {
      p = await h.pod('nopull');
      return p !== undefined && cs(p, 'np')?.state?.waiting?.reason === 'ErrImagePull';
    }, 'ErrImagePull').catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(p?.status)}`);
    });
    assert.ok(p);
    assert.match(cs(p, 'np')?.state?.waiting?.message ?? '', /ghost:1: not found/);
    const p2 = await h.until('nopull', (x) => cs(x, 'np')?.state?.waiting?.reason === 'ImagePullBackOff', 'ImagePullBackOff');
    assert.match(cs(p2, 'np')?.state?.waiting?.message ?? '', /Back-off pulling image "ghost:1": .*not found/);
  });

  it('keeps a pod Pending with a clear condition when its RuntimeClass handler is not on this node', async () => {
    await h.client.create(Resources.runtimeclasses, { metadata: { name: 'kata' }, handler: 'kata' } as KubeObject);
    await h.createPod('norc', { runtimeClassName: 'kata', containers: [app({ name: 'k' })] });
    const p = await h.until('norc', (x) => cond(x, 'PodReadyToStartContainers') === 'False', 'condition');
    const c = p.status?.conditions?.find((x) => x.type === 'PodReadyToStartContainers');
    assert.equal(c?.reason, 'RuntimeHandlerNotFound');
    assert.match(c?.message ?? '', /no runtime for "kata" is configured/);
    assert.equal(p.status?.phase, 'Pending');
    assert.equal(h.runtime.ops.includes('createSandbox:norc'), false);
    assert.ok(h.events.events.some((e) => e.name === 'norc' && e.reason === 'FailedCreatePodSandBox'));
  });

  it('writes status only when it changed', async () => {
    await h.createPod('quiet', { containers: [app({ name: 'q' })] });
    await h.until('quiet', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    const patches = (): number => h.client.calls.filter((c) => c.verb === 'patch' && c.name === 'quiet').length;
    const before = patches();
    for (let i = 0; i < 5; i++) await h.tick();
    assert.equal(patches(), before);
  });
});

describe('restart back-off, probes, deletion', () => {
  let h: Harness;
  before(async () => {
    h = await new Harness().init({ backoffBaseMs: 10_000, backoffMaxMs: 40_000 });
    h.start();
  });
  after(() => h.close());

  it('CrashLoopBackOff: immediate first restart, then 10 s, 20 s back-off', async () => {
    h.runtime.behaviors.set('crash', { kind: 'exit', code: 1 });
    await h.createPod('crashy', { containers: [app({ name: 'crash' })] });
    let p = await h.until('crashy', (x) => cs(x, 'crash')?.state?.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff');
    assert.equal(cs(p, 'crash')?.restartCount, 1);
    assert.match(cs(p, 'crash')?.state?.waiting?.message ?? '', /^back-off 10s restarting failed container=crash pod=crashy_default/);
    assert.equal(cs(p, 'crash')?.lastState?.terminated?.exitCode, 1);
    assert.equal(p.status?.phase, 'Running');
    // measured on the container timestamps: exit → next start
    const fin1 = Date.parse(cs(p, 'crash')?.lastState?.terminated?.finishedAt ?? '');
    p = await h.until('crashy', (x) => cs(x, 'crash')?.restartCount === 2, 'restart 2');
    const start2 = Date.parse(cs(p, 'crash')?.state?.terminated?.startedAt ?? cs(p, 'crash')?.lastState?.terminated?.startedAt ?? '');
    assert.equal(start2 - fin1, 10_000);
    p = await h.until('crashy', (x) => /back-off 20s/.test(cs(x, 'crash')?.state?.waiting?.message ?? ''), '20s back-off');
    const fin2 = Date.parse(cs(p, 'crash')?.lastState?.terminated?.finishedAt ?? '');
    p = await h.until('crashy', (x) => cs(x, 'crash')?.restartCount === 3, 'restart 3');
    const start3 = Date.parse(cs(p, 'crash')?.state?.terminated?.startedAt ?? cs(p, 'crash')?.lastState?.terminated?.startedAt ?? '');
    assert.equal(start3 - fin2, 20_000);
  });

  it('readiness probe flips Ready; liveness failure restarts with restartCount+1', async () => {
    let readyOk = false;
    let liveOk = true;
    h.runtime.execResult = (_cfg, req) => (req.command[0] === 'ready' ? (readyOk ? 0 : 1) : req.command[0] === 'live' ? (liveOk ? 0 : 1) : 0);
    await h.createPod('probed', {
      containers: [
        app({
          name: 'p',
          readinessProbe: { exec: { command: ['ready'] }, periodSeconds: 1, failureThreshold: 1 },
          livenessProbe: { exec: { command: ['live'] }, periodSeconds: 1, failureThreshold: 3 },
        }),
      ],
    });
    await h.until('probed', (x) => x.status?.phase === 'Running' && cs(x, 'p')?.state?.running !== undefined, 'Running');
    for (let i = 0; i < 3; i++) await h.tick();
    let p = (await h.pod('probed'))!;
    assert.equal(cond(p, 'Ready'), 'False');
    assert.equal(cs(p, 'p')?.ready, false);
    readyOk = true;
    p = await h.until('probed', (x) => cond(x, 'Ready') === 'True', 'Ready');
    assert.equal(cs(p, 'p')?.ready, true);
    liveOk = false;
    p = await h.until('probed', (x) => (cs(x, 'p')?.restartCount ?? 0) === 1, 'liveness restart');
    assert.match(cs(p, 'p')?.lastState?.terminated?.message ?? '', /failed liveness probe/);
    liveOk = true;
  });

  it('sidecars (init containers with restartPolicy Always): started before the next init container, probed and counted for Ready, restarted beside the app, stopped after it', async () => {
    let sidecarReady = false;
    h.runtime.execResult = (_cfg, req) => (req.command[0] === 'side-ready' ? (sidecarReady ? 0 : 1) : 0);
    h.runtime.behaviors.set('sc-init', { kind: 'exit', code: 0 });
    await h.createPod('sidecarred', {
      initContainers: [
        app({ name: 'sc-proxy', restartPolicy: 'Always', readinessProbe: { exec: { command: ['side-ready'] }, periodSeconds: 1, failureThreshold: 1 } }),
        app({ name: 'sc-init' }),
      ],
      containers: [app({ name: 'sc-app' })],
    });
    let p = await h.until('sidecarred', (x) => x.status?.phase === 'Running' && cs(x, 'sc-app')?.state?.running !== undefined, 'Running');
    const starts = h.runtime.ops.filter((o) => /^start:sc-/.test(o));
    assert.deepEqual(starts, ['start:sc-proxy', 'start:sc-init', 'start:sc-app'], 'the sidecar first, and it keeps running');
    const side = (x: Pod) => x.status?.initContainerStatuses?.find((c) => c.name === 'sc-proxy');
    assert.ok(side(p)?.state?.running);
    assert.equal(cond(p, 'Initialized'), 'True');
    for (let i = 0; i < 3; i++) await h.tick();
    p = (await h.pod('sidecarred'))!;
    assert.equal(cond(p, 'Ready'), 'False', 'an unready sidecar holds the pod back');
    assert.match(p.status?.conditions?.find((c) => c.type === 'ContainersReady')?.message ?? '', /\[sc-proxy\]/);
    sidecarReady = true;
    await h.until('sidecarred', (x) => cond(x, 'Ready') === 'True', 'Ready');
    // a sidecar that exits is restarted whatever the pod's policy; the app goes on, Initialized stays
    const appId = h.runtime.byName('sc-app')!.id;
    h.runtime.exit(h.runtime.byName('sc-proxy')!.id, 1);
    p = await h.until('sidecarred', (x) => side(x)?.restartCount === 1 && side(x)?.state?.running !== undefined, 'sidecar restarted');
    assert.equal(cond(p, 'Initialized'), 'True');
    assert.equal(h.runtime.byName('sc-app')!.id, appId, 'the app container untouched');
    // deletion: the app first, then the sidecar
    await h.client.delete(Resources.pods, 'sidecarred', { namespace: 'default' });
    for (let i = 0; i < 50 && (await h.pod('sidecarred')); i++) await h.tick();
    const stops = h.runtime.ops.filter((o) => /^stop:sc-(app|proxy)/.test(o)).map((o) => o.split(':')[1]);
    assert.deepEqual(stops, ['sc-app', 'sc-proxy']);
  });

  it('a Job-like pod with a sidecar completes when its app does: the sidecar is stopped and the pod Succeeds', async () => {
    h.runtime.behaviors.set('jb-app', { kind: 'exit', code: 0 });
    await h.createPod('jobby', { restartPolicy: 'Never', initContainers: [app({ name: 'jb-side', restartPolicy: 'Always' })], containers: [app({ name: 'jb-app' })] });
    const p = await h.until('jobby', (x) => x.status?.phase === 'Succeeded', 'Succeeded');
    assert.ok(h.runtime.ops.some((o) => o.startsWith('stop:jb-side:')), h.runtime.ops.join(' '));
    assert.ok(p.status?.initContainerStatuses?.[0]?.state?.terminated, JSON.stringify(p.status?.initContainerStatuses));
    assert.equal(cond(p, 'Initialized'), 'True');
  });

  it('postStart: runs once the container started, before its Running is written; a failing hook kills it (FailedPostStartHook) and it restarts', async () => {
    let hookOk = true;
    h.runtime.execResult = (_cfg, req) => (req.command[0] === 'warm' ? (hookOk ? 0 : 1) : 0);
    const seenAtHook: string[] = [];
    const exec = h.runtime.exec.bind(h.runtime);
    h.runtime.exec = async (id, req) => {
      if (req.command[0] === 'warm') seenAtHook.push(cs((await h.pod('hooked'))!, 'w')?.state?.running ? 'running' : 'not running');
      return exec(id, req);
    };
    try {
      await h.createPod('hooked', { containers: [app({ name: 'w', lifecycle: { postStart: { exec: { command: ['warm', 'up'] } } } })] });
      await h.until('hooked', (x) => x.status?.phase === 'Running' && cs(x, 'w')?.state?.running !== undefined, 'Running');
      const ops = h.runtime.ops.filter((o) => /^(start|exec):w/.test(o));
      assert.deepEqual(ops.slice(0, 2), ['start:w', 'exec:w:warm up']);
      assert.deepEqual(seenAtHook, ['not running'], 'Running is written once the hook has ended, as upstream');

      // a restart whose hook fails: killed with the pod's grace period, a Warning event, restarted again
      hookOk = false;
      h.runtime.exit(h.runtime.byName('w')!.id, 1);
      const failed = (): boolean => h.events.events.some((e) => e.name === 'hooked' && e.reason === 'FailedPostStartHook' && /postStart hook failed: command exited with 1/.test(e.message ?? ''));
      for (let i = 0; i < 100 && !failed(); i++) await h.tick();
      assert.ok(failed(), h.events.events.map((e) => `${e.reason}: ${e.message}`).join('\n'));
      assert.ok(h.runtime.ops.some((o) => /^stop:w:30$/.test(o)), h.runtime.ops.join(' '));
      hookOk = true;
      const p = await h.until('hooked', (x) => (cs(x, 'w')?.restartCount ?? 0) >= 2 && cs(x, 'w')?.state?.running !== undefined, 'restarted after the failed hook', 200);
      assert.ok((cs(p, 'w')?.restartCount ?? 0) >= 2);
    } finally {
      h.runtime.exec = exec;
      h.runtime.execResult = () => 0;
    }
  });

  it('graceful deletion: preStop, then stop, then sandbox and network, then the pod object', async () => {
    await h.createPod('bye', {
      terminationGracePeriodSeconds: 15,
      containers: [app({ name: 'b', lifecycle: { preStop: { exec: { command: ['drain'] } } } })],
    });
    await h.until('bye', (x) => x.status?.phase === 'Running', 'Running');
    let sandboxesAtDelete = -1;
    const orig = h.client.delete.bind(h.client);
    h.client.delete = async (res, name, opts) => {
      if (name === 'bye' && opts?.gracePeriodSeconds === 0) {
        sandboxesAtDelete = [...h.runtime.sandboxes.values()].filter((s) => s.pod.name === 'bye').length;
        assert.ok(opts.preconditions?.uid);
      }
      return orig(res, name, opts);
    };
    await h.client.delete(Resources.pods, 'bye', { namespace: 'default' });
    for (let i = 0; i < 50 && (await h.pod('bye')); i++) await h.tick();
    assert.equal(await h.pod('bye'), undefined);
    const ops = h.runtime.ops.filter((o) => /^(exec:b|stop:b|removeSandbox:bye)/.test(o));
    // stop gets what is left of the 15 s grace period after preStop
    assert.equal(ops.length, 3);
    assert.equal(ops[0], 'exec:b:drain');
    assert.match(ops[1], /^stop:b:1[3-5]$/);
    assert.equal(ops[2], 'removeSandbox:bye');
    assert.ok(h.network.ops.includes('tearDown:bye'));
    assert.equal(sandboxesAtDelete, 0);
  });
});

describe('agent restart', () => {
  it('adopts running containers without restarting them and keeps restartCount', async () => {
    const h = await new Harness().init();
    try {
      h.start();
      let crashes = 1;
      h.runtime.behaviors.set('a', { kind: 'exit', code: 2 });
      await h.createPod('keep', { containers: [app({ name: 'a' })] });
      await h.until('keep', (x) => (cs(x, 'a')?.restartCount ?? 0) >= crashes, 'one restart');
      h.runtime.behaviors.delete('a');
      const p = await h.until('keep', (x) => cs(x, 'a')?.state?.running !== undefined, 'running again');
      const rc = cs(p, 'a')?.restartCount ?? 0;
      crashes = rc;
      assert.ok(rc >= 1);
      await h.stop();
      const creates = h.runtime.ops.filter((o) => o === 'create:a').length;
      const id = cs(p, 'a')?.containerID;

      h.start();
      await eventually(() => h.sync?.hasSynced() === true, 'synced');
      for (let i = 0; i < 5; i++) await h.tick();
      const after = (await h.pod('keep'))!;
      assert.equal(h.runtime.ops.filter((o) => o === 'create:a').length, creates);
      assert.equal(cs(after, 'a')?.restartCount, rc);
      assert.equal(cs(after, 'a')?.containerID, id);
      assert.ok(cs(after, 'a')?.state?.running);
      assert.equal(h.sync?.locate('default', 'keep', 'a')?.id, id?.replace('hedge://', ''));
    } finally {
      await h.close();
    }
  });

  it('a restarted agent removes the snapshots no container uses (an agent that stopped between prepare and create)', async () => {
    const h = await new Harness().init();
    try {
      h.start();
      await h.createPod('keepfs', { containers: [app({ name: 'k' })] });
      const p = await h.until('keepfs', (x) => x.status?.phase === 'Running', 'Running');
      await h.stop();
      const uid = p.metadata?.uid ?? '';
      await h.snapshotter.prepare('left-behind', undefined, { labels: { [Labels.podUid]: uid } });
      await h.snapshotter.prepare('not-a-pods', undefined, {});
      h.start();
      await eventually(() => h.sync?.hasSynced() === true, 'synced');
      await eventually(() => !h.snapshotter.snapshots.has('left-behind'), 'orphan snapshot removed');
      // the running container's own snapshot stays, and one not made for a pod is not the agent's to remove
      assert.ok(h.snapshotter.snapshots.has(h.runtime.byName('k')!.id));
      assert.ok(h.snapshotter.snapshots.has('not-a-pods'));
    } finally {
      await h.close();
    }
  });

  it('a restarted agent reuses the sandbox of a pod with no container yet, and frees it on delete', async () => {
    const h = await new Harness().init();
    try {
      h.start();
      await h.createPod('waits', { containers: [app({ name: 'w', image: 'ghost:2' })] });
      await h.until('waits', (x) => cs(x, 'w')?.state?.waiting?.reason === 'ErrImagePull', 'ErrImagePull');
      await h.stop();
      const sandboxes = (): number => [...h.runtime.sandboxes.values()].filter((s) => s.pod.name === 'waits').length;
      assert.equal(sandboxes(), 1);

      h.start();
      await eventually(() => h.sync?.hasSynced() === true, 'synced');
      for (let i = 0; i < 3; i++) await h.tick();
      // no second sandbox or netns beside the first
      assert.equal(h.network.ops.filter((o) => o === 'setUp:waits').length, 1);
      assert.equal(sandboxes(), 1);
      assert.equal(h.network.active.size, 1);

      const p = (await h.pod('waits'))!;
      await h.client.delete(Resources.pods, 'waits', { namespace: 'default', gracePeriodSeconds: 0 });
      await eventually(() => sandboxes() === 0 && h.network.active.size === 0, `sandbox and network freed (uid ${p.metadata?.uid})`);
    } finally {
      await h.close();
    }
  });

  it('configMap volume contents follow the ConfigMap every volumeRefreshMs', async () => {
    const h = await new Harness().init({ volumeRefreshMs: 5_000 });
    try {
      h.start();
      await h.client.create(Resources.configmaps, { metadata: { name: 'conf', namespace: 'default' }, data: { greeting: 'v1' } } as KubeObject);
      await h.createPod('vol', { volumes: [{ name: 'c', configMap: { name: 'conf' } }], containers: [app({ volumeMounts: [{ name: 'c', mountPath: '/etc/c' }] })] });
      const p = await h.until('vol', (x) => x.status?.phase === 'Running', 'Running');
      const file = join(volumeDir(h.dataDir, p.metadata!.uid!, 'configmap', 'c'), 'greeting');
      assert.equal(await readFile(file, 'utf8'), 'v1');
      await h.client.patch(Resources.configmaps, 'conf', 'merge', { data: { greeting: 'v2' } }, { namespace: 'default' });
      // not before the refresh period ...
      await h.tick(1_000);
      assert.equal(await readFile(file, 'utf8'), 'v1');
      // ... then within one resync after it
      await h.tick(5_000);
      await h.tick();
      assert.equal(await readFile(file, 'utf8'), 'v2');
      // with the ConfigMap gone (or the cloud unreachable) the pod keeps what it has
      await h.client.delete(Resources.configmaps, 'conf', { namespace: 'default' });
      await h.tick(6_000);
      await h.tick();
      assert.equal(await readFile(file, 'utf8'), 'v2');
      assert.equal((await h.pod('vol'))?.status?.phase, 'Running');
    } finally {
      await h.close();
    }
  });

  it('removes containers and sandboxes of pods no longer bound to this node', async () => {
    const h = await new Harness().init();
    try {
      const sbId = 'orphan-sb' as SandboxId;
      await h.runtime.createSandbox({
        id: sbId, pod: { uid: 'gone-uid', namespace: 'default', name: 'gone' }, hostname: 'gone', shareIpc: false, cgroupParent: '', resources: {},
        hostsFile: '', resolvConf: '', stateDir: '/tmp', labels: {}, annotations: {},
      });
      await h.runtime.createContainer({
        id: 'orphan-c' as ContainerId, sandboxId: sbId, name: 'x', image: { ref: 'busybox:1', digest: '' }, rootfs: [], command: [], env: [],
        workingDir: '/', user: { uid: 0, gid: 0, additionalGids: [] }, mounts: [], resources: {},
        security: { privileged: false, readOnlyRootFilesystem: false, capabilitiesAdd: [], capabilitiesDrop: [], noNewPrivileges: false },
        tty: false, logPath: '/dev/null', labels: { [Labels.podUid]: 'gone-uid', [Labels.containerName]: 'x' }, annotations: {},
      });
      await h.runtime.start('orphan-c' as ContainerId);
      // a foreign container (no hedge labels) is left alone
      await h.runtime.createContainer({ ...h.runtime.containers.get('orphan-c' as ContainerId)!.cfg, id: 'foreign' as ContainerId, labels: {} });
      h.start();
      await eventually(() => h.sync?.hasSynced() === true, 'synced');
      assert.equal(h.runtime.containers.has('orphan-c' as ContainerId), false);
      assert.equal(h.runtime.sandboxes.has(sbId), false);
      assert.deepEqual(h.runtime.ops.filter((o) => o.startsWith('stop:x') || o === 'remove:x'), ['stop:x:2', 'remove:x']);
    } finally {
      await h.close();
    }
  });
});

describe('RuntimeClass lookup', () => {
  it('comes from a watch, not a GET per pod; unknown classes still fail clearly and new ones are found', async () => {
    const h = await new Harness().init();
    try {
      await h.client.create(Resources.runtimeclasses, { metadata: { name: 'fast' }, handler: 'runc' } as KubeObject);
      h.start();
      await eventually(() => h.client.calls.some((c) => c.verb === 'watch' && c.plural === 'runtimeclasses'), 'RuntimeClass informer watching');
      await h.createPod('rc-a', { runtimeClassName: 'fast', containers: [app({ name: 'a' })] });
      await h.createPod('rc-b', { runtimeClassName: 'fast', containers: [app({ name: 'b' })] });
      await h.until('rc-a', (x) => x.status?.phase === 'Running', 'Running');
      await h.until('rc-b', (x) => x.status?.phase === 'Running', 'Running');
      assert.equal(h.client.calls.filter((c) => c.verb === 'get' && c.plural === 'runtimeclasses').length, 0);

      await h.createPod('rc-none', { runtimeClassName: 'nope', containers: [app({ name: 'n' })] });
      const p = await h.until('rc-none', (x) => cond(x, 'PodReadyToStartContainers') === 'False', 'condition');
      assert.equal(p.status?.conditions?.find((x) => x.type === 'PodReadyToStartContainers')?.reason, 'RuntimeClassNotFound');

      await h.client.create(Resources.runtimeclasses, { metadata: { name: 'late' }, handler: 'runc' } as KubeObject);
      await h.createPod('rc-late', { runtimeClassName: 'late', containers: [app({ name: 'l' })] });
      await h.until('rc-late', (x) => x.status?.phase === 'Running', 'Running');
    } finally {
      await h.close();
    }
  });
});

describe('volumes beside the sandbox', () => {
  it('sets volumes up while the network comes up, and still reports a missing configMap', async () => {
    const h = await new Harness().init();
    try {
      await h.client.create(Resources.configmaps, { metadata: { name: 'cfg', namespace: 'default' }, data: { k: 'v' } } as KubeObject);
      const sawConfigMapGet = (): boolean => h.client.calls.some((c) => c.verb === 'get' && c.plural === 'configmaps');
      // network set-up cannot finish before the volume's configMap was read: only overlap gets this pod Running
      h.network.gate = (sb) => (sb.pod.name === 'vols' ? eventually(sawConfigMapGet, 'configMap read during network set-up') : Promise.resolve());
      h.start();
      await h.createPod('vols', { containers: [app({ name: 'v' })], volumes: [{ name: 'c', configMap: { name: 'cfg' } }] });
      await h.until('vols', (x) => x.status?.phase === 'Running', 'Running');
      h.network.gate = undefined;
      await h.createPod('novols', { containers: [app({ name: 'nv' })], volumes: [{ name: 'c', configMap: { name: 'missing' } }] });
      const p = await h.until('novols', (x) => cs(x, 'nv')?.state?.waiting?.message?.includes('MountVolume.SetUp failed') === true, 'FailedMount');
      assert.match(cs(p, 'nv')?.state?.waiting?.message ?? '', /configmap "missing" not found/);
      // the rootfs prepared beside the volumes went with the failed attempt: only the running pod's is left
      const active = [...h.snapshotter.snapshots.values()].filter((x) => x.kind === 'active');
      assert.deepEqual(active.map((x) => x.labels[Labels.podUid]), [(await h.client.get(Resources.pods, 'vols', { namespace: 'default' })).metadata.uid]);
    } finally {
      await h.close();
    }
  });
  it("prepares a local image's rootfs while the sandbox's network comes up, and drops one no attempt took", async () => {
    const h = await new Harness().init();
    try {
      h.start();
      // the first pod pulls the image; the next find it on the node
      await h.createPod('first', { containers: [app({ name: 'f' })] });
      await h.until('first', (x) => x.status?.phase === 'Running', 'Running');
      const activeOf = async (name: string): Promise<string[]> => {
        const uid = (await h.pod(name))?.metadata?.uid;
        return [...h.snapshotter.snapshots.values()].filter((x) => x.kind === 'active' && x.labels[Labels.podUid] === uid).map((x) => x.key);
      };
      // network set-up cannot finish before both containers' snapshots exist: only preparing them beside it gets this pod Running
      h.network.gate = (sb) => (sb.pod.name === 'early' ? eventually(async () => (await activeOf('early')).length === 2, 'rootfs prepared during network set-up') : Promise.resolve());
      await h.createPod('early', { initContainers: [app({ name: 'i', command: ['true'] })], containers: [app({ name: 'e' })] });
      h.runtime.behaviors.set('i', { kind: 'exit', code: 0 });
      const p = await h.until('early', (x) => x.status?.phase === 'Running', 'Running');
      // each container runs on the snapshot prepared for it
      assert.deepEqual((await activeOf('early')).sort(), [h.runtime.byName('i')!.id, h.runtime.byName('e')!.id].sort());
      h.network.gate = undefined;

      // a pod deleted while its network is still being made: the snapshots prepared ahead go with it
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      h.network.gate = (sb) => (sb.pod.name === 'gone' ? held : Promise.resolve());
      await h.createPod('gone', { containers: [app({ name: 'g' })] });
      await eventually(async () => (await activeOf('gone')).length === 1, 'rootfs prepared ahead');
      const goneUid = (await h.pod('gone'))?.metadata?.uid;
      await h.client.delete(Resources.pods, 'gone', { namespace: 'default', gracePeriodSeconds: 0 });
      release();
      await eventually(
        () => ![...h.snapshotter.snapshots.values()].some((x) => x.kind === 'active' && x.labels[Labels.podUid] === goneUid),
        'snapshot prepared ahead removed with the pod',
      );
      assert.ok(p.status?.podIP);
    } finally {
      h.network.gate = undefined;
      await h.close();
    }
  });
});

describe('steady pods and exit events', () => {
  /** a runtime that reports exits as events (as the OCI handler does from conmon's exit files) */
  class EventedRuntime extends FakeRuntime {
    readonly listeners = new Set<(id: ContainerId) => void>();
    statusCalls = 0;
    watchExits(l: (id: ContainerId) => void): () => void {
      this.listeners.add(l);
      return () => this.listeners.delete(l);
    }
    override async status(id: ContainerId): Promise<RuntimeContainerStatus> {
      this.statusCalls++;
      return super.status(id);
    }
    override exit(id: ContainerId, code: number): void {
      super.exit(id, code);
      for (const l of this.listeners) l(id);
    }
  }
  let h: Harness;
  let rt: EventedRuntime;
  before(async () => {
    h = await new Harness().init();
    rt = new EventedRuntime({ now: () => h.clock.now() });
    h.runtimes.set('runc', rt);
    h.start();
  });
  after(() => h.close());

  it('a steady pod is not re-checked every second; its container exit wakes it at once; the idle resync still looks', async () => {
    await h.createPod('steady', { containers: [app()] });
    await h.until('steady', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    await h.tick(); // the pass after Running: now steady
    const before = rt.statusCalls;
    for (let i = 0; i < 5; i++) await h.tick();
    assert.equal(rt.statusCalls, before, 'parked through five 1 s ticks');
    await h.tick(h.cfg.idleResyncMs);
    assert.ok(rt.statusCalls > before, 'the idle resync re-checks the container');

    // a crash: the event wakes the worker without the clock moving
    const id = rt.byName('app')!.id;
    rt.exit(id, 1);
    await h.settle();
    const p = await h.pod('steady');
    assert.equal(cs(p!, 'app')?.lastState?.terminated?.exitCode ?? cs(p!, 'app')?.state?.terminated?.exitCode, 1, JSON.stringify(p?.status));
  });

  it('a readiness gate holds Ready until another controller sets its condition True; that write wakes a steady pod at once', async () => {
    await h.createPod('gated', { readinessGates: [{ conditionType: 'example.com/lb-registered' }], containers: [app()] });
    const p = await h.until('gated', (x) => x.status?.phase === 'Running' && cond(x, 'ContainersReady') === 'True', 'Running');
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, 'ReadinessGatesNotReady');
    assert.equal(ready?.message, 'corresponding condition of pod readiness gate "example.com/lb-registered" does not exist.');
    await h.tick();
    await h.tick(); // parked: nothing of its own left to do
    const now = new Date(h.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const setGate = (status: string) =>
      h.client.patch(Resources.pods, 'gated', 'strategic', { status: { conditions: [{ type: 'example.com/lb-registered', status, lastTransitionTime: now }] } }, { namespace: 'default', subresource: 'status' });
    await setGate('False');
    await h.settle();
    const gatedFalse = (await h.pod('gated'))?.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(gatedFalse?.message, 'the status of pod readiness gate "example.com/lb-registered" is not "True", but False');
    // the controller's write, and no clock movement: the update alone wakes the worker
    await setGate('True');
    await h.settle();
    const after = await h.pod('gated');
    assert.equal(cond(after!, 'Ready'), 'True', JSON.stringify(after?.status?.conditions));
    assert.equal(cond(after!, 'example.com/lb-registered'), 'True', "the controller's condition is kept");
  });

  it('activeDeadlineSeconds: a parked pod wakes at its deadline, its containers are killed, and it is Failed with DeadlineExceeded', async () => {
    await h.createPod('bounded', { activeDeadlineSeconds: 30, terminationGracePeriodSeconds: 5, containers: [app()] });
    await h.until('bounded', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    await h.tick();
    await h.tick(); // parked for the idle resync (2 min), past the deadline
    await h.tick(30_000);
    const p = await h.until('bounded', (x) => x.status?.phase === 'Failed', 'Failed', 5);
    assert.equal(p.status?.reason, 'DeadlineExceeded');
    assert.equal(p.status?.message, 'Pod was active on the node longer than the specified deadline');
    assert.equal(cond(p, 'Ready'), 'False');
    assert.ok(rt.ops.includes(`stop:app:5`), rt.ops.join(' '));
    assert.ok(cs(p, 'app')?.state?.terminated, JSON.stringify(cs(p, 'app')?.state));
    assert.ok(h.events.events.some((e) => e.name === 'bounded' && e.reason === 'DeadlineExceeded'));
    await eventually(() => ![...rt.sandboxes.values()].some((s) => s.pod.name === 'bounded'), 'sandbox released');
  });

  it('evict(): a parked pod is woken, its containers stopped with the override, Failed/Evicted with DisruptionTarget, its sandbox freed', async () => {
    await h.createPod('evictee', { terminationGracePeriodSeconds: 30, containers: [app({ name: 'ev' })] });
    const running = await h.until('evictee', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    await h.tick(); // steady: parked for the idle resync
    const sync = h.sync!;
    assert.ok(sync.activePods().some((p) => p.metadata?.name === 'evictee'));
    const message = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. ';
    const condition = { type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', message, lastTransitionTime: '2026-01-01T00:00:00Z' };
    const ok = await sync.evict(running.metadata!.uid!, { gracePeriodSeconds: 0, message, condition }, new AbortController().signal);
    assert.equal(ok, true);
    assert.ok(rt.ops.includes('stop:ev:2'), `stopped with the override (0 → the 2 s minimum), not the pod's 30 s: ${rt.ops.join(' ')}`);
    assert.ok(![...rt.sandboxes.values()].some((x) => x.pod.name === 'evictee'), 'sandbox released before evict() resolves');
    const p = await h.until('evictee', (x) => x.status?.phase === 'Failed', 'Failed', 5);
    assert.deepEqual([p.status?.reason, p.status?.message], ['Evicted', message]);
    const dt = p.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
    assert.deepEqual([dt?.status, dt?.reason, dt?.message], ['True', 'TerminationByKubelet', message]);
    assert.ok(cs(p, 'ev')?.state?.terminated, JSON.stringify(cs(p, 'ev')?.state));
    assert.equal(cond(p, 'Ready'), 'False');
    assert.ok(!sync.activePods().some((x) => x.metadata?.name === 'evictee'), 'no longer a candidate');
    assert.equal(await sync.evict(running.metadata!.uid!, { gracePeriodSeconds: 0, message }, new AbortController().signal), false, 'a finished pod is not evicted twice');
    await h.tick(h.cfg.idleResyncMs);
    assert.equal((await h.pod('evictee'))?.status?.phase, 'Failed', 'never restarted');
  });

  it('evict() with the API unreachable (no hub): containers stopped and sandbox freed at once, the Failed/Evicted write retried until it lands', async () => {
    await h.createPod('evict-offline', { containers: [app({ name: 'evo' })] });
    const running = await h.until('evict-offline', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    await h.tick();
    const away = cloudAway(h, 'evict-offline', 2);
    try {
      const message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ';
      assert.equal(await h.sync!.evict(running.metadata!.uid!, { gracePeriodSeconds: 0, message }, new AbortController().signal), true);
      assert.ok(![...rt.sandboxes.values()].some((x) => x.pod.name === 'evict-offline'), 'sandbox freed while the write failed');
      assert.equal((await h.pod('evict-offline'))?.status?.phase, 'Running', 'not written yet');
      assert.ok(!h.sync!.activePods().some((x) => x.metadata?.name === 'evict-offline'), 'not a candidate again meanwhile');
      const p = await h.until('evict-offline', (x) => x.status?.phase === 'Failed', 'Failed after retries', 5);
      assert.deepEqual([p.status?.reason, p.status?.message, away.refused], ['Evicted', message, 2]);
      assert.equal(p.status?.conditions?.some((c) => c.type === 'DisruptionTarget'), false, 'a local-storage eviction sets none (upstream)');
    } finally {
      away.restore();
    }
  });

  it('a steady pod with a configMap volume wakes for its volume refresh, not only at the idle resync', async () => {
    assert.ok(h.cfg.volumeRefreshMs < (h.cfg.idleResyncMs ?? 0), 'the case this test is about');
    await h.client.create(Resources.configmaps, { metadata: { name: 'steady-conf', namespace: 'default' }, data: { greeting: 'v1' } } as KubeObject);
    await h.createPod('steady-vol', { volumes: [{ name: 'c', configMap: { name: 'steady-conf' } }], containers: [app({ volumeMounts: [{ name: 'c', mountPath: '/etc/c' }] })] });
    const p = await h.until('steady-vol', (x) => x.status?.phase === 'Running' && cond(x, 'Ready') === 'True', 'Running');
    await h.tick(); // steady from here
    const file = join(volumeDir(h.dataDir, p.metadata!.uid!, 'configmap', 'c'), 'greeting');
    await h.client.patch(Resources.configmaps, 'steady-conf', 'merge', { data: { greeting: 'v2' } }, { namespace: 'default' });
    await h.tick(h.cfg.volumeRefreshMs);
    await h.tick();
    assert.equal(await readFile(file, 'utf8'), 'v2');
  });
});

describe('bounded pod starts', () => {
  it('starts at most maxConcurrentStarts pods at once, oldest first; a pod deleted while it waits never gets a sandbox', async () => {
    const h = await new Harness().init({ maxConcurrentStarts: 2 });
    // each start holds its slot in network set-up until the test lets it go
    const held = new Map<string, () => void>();
    try {
      h.network.gate = (sb) => new Promise<void>((r) => held.set(sb.pod.name, r));
      h.start();
      for (let i = 0; i < 5; i++) await h.createPod(`p${i}`, { containers: [app({ name: `c${i}` })] });
      await eventually(() => held.size === 2, 'two starts under way');
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
      // which of the two reaches its network set-up first is up to the event loop
      assert.deepEqual([...held.keys()].sort(), ['p0', 'p1'], 'the others wait for a slot');

      await h.client.delete(Resources.pods, 'p3', { namespace: 'default', gracePeriodSeconds: 0 });
      const made = (n: string): boolean => h.runtime.ops.includes(`createSandbox:${n}`);
      held.get('p1')!();
      await eventually(() => held.size === 3 && made('p1'), 'p2 takes the slot p1 freed');
      held.get('p0')!();
      await eventually(() => held.size === 4 && made('p0'), 'p4 takes the slot p0 freed (p3 left the queue)');
      assert.deepEqual([...held.keys()].sort(), ['p0', 'p1', 'p2', 'p4']);
      held.get('p2')!();
      await eventually(() => made('p2'), 'p2 sandbox');
      held.get('p4')!();
      for (const n of ['p0', 'p1', 'p2', 'p4']) await h.until(n, (x) => x.status?.phase === 'Running', `${n} Running`);
      assert.equal(h.network.ops.includes('setUp:p3'), false);
      assert.equal(h.runtime.ops.includes('createSandbox:p3'), false);
      assert.deepEqual(
        h.runtime.ops.filter((o) => o.startsWith('createSandbox:')),
        ['createSandbox:p1', 'createSandbox:p0', 'createSandbox:p2', 'createSandbox:p4'],
      );
      assert.equal(await h.pod('p3'), undefined);
    } finally {
      // a failed assertion must not leave starts parked in the gate: close() waits for them
      for (const release of held.values()) release();
      await h.close();
    }
  });
});

describe('volume contents after create', () => {
  it('on a runtime that sees them (runc), the first container is created while its volumes fill and started once they are written; a failed volume removes it and is not retried by creating again', async () => {
    const h = await new Harness({ runtime: { volumesAfterCreate: true } }).init();
    try {
      await h.client.create(Resources.configmaps, { metadata: { name: 'cfg', namespace: 'default' }, data: { k: 'v' } } as KubeObject);
      // the configMap cannot be read before a container exists: only a create ahead of the volumes gets a pod Running
      const get = h.client.get.bind(h.client);
      h.client.get = (async (...args: Parameters<typeof get>) => {
        const by = args[0] === Resources.configmaps ? { cfg: 'create:a', missing: 'create:m' }[args[1]] : undefined;
        if (by) await eventually(() => h.runtime.ops.includes(by), `${by} before the configMap read`);
        return get(...args);
      }) as typeof h.client.get;
      const seenAtStart = new Map<string, boolean>();
      const start = h.runtime.start.bind(h.runtime);
      h.runtime.start = async (id: ContainerId) => {
        const cfg = h.runtime.containers.get(id)?.cfg;
        const src = cfg?.mounts.find((m) => m.containerPath === '/etc/c')?.hostPath;
        if (cfg && src) seenAtStart.set(cfg.name, await readFile(join(src, 'k'), 'utf8').then((x) => x === 'v', () => false));
        return start(id);
      };
      h.start();
      await h.createPod('after', { containers: [app({ name: 'a', volumeMounts: [{ name: 'c', mountPath: '/etc/c' }] })], volumes: [{ name: 'c', configMap: { name: 'cfg' } }] });
      await h.until('after', (x) => x.status?.phase === 'Running', 'Running');
      assert.equal(seenAtStart.get('a'), true);

      await h.createPod('nocfg', { containers: [app({ name: 'm', volumeMounts: [{ name: 'c', mountPath: '/etc/c' }] })], volumes: [{ name: 'c', configMap: { name: 'missing' } }] });
      const p = await h.until('nocfg', (x) => cs(x, 'm')?.state?.waiting?.message?.includes('MountVolume.SetUp failed') === true, 'FailedMount');
      assert.match(cs(p, 'm')?.state?.waiting?.message ?? '', /configmap "missing" not found/);
      assert.equal(cs(p, 'm')?.state?.waiting?.reason, 'ContainerCreating');
      assert.equal(cs(p, 'm')?.containerID, undefined);
      assert.deepEqual(h.runtime.ops.filter((o) => /^(create|start|remove):m$/.test(o)), ['create:m', 'remove:m']);
      assert.equal(h.runtime.byName('m'), undefined);
      // its snapshot went with it: only the running pod's is left
      const active = [...h.snapshotter.snapshots.values()].filter((x) => x.kind === 'active');
      assert.deepEqual(active.map((x) => x.labels[Labels.podUid]), [(await h.client.get(Resources.pods, 'after', { namespace: 'default' })).metadata.uid]);
      // the retry waits for the volume before creating: no container made and removed at each pass
      await h.tick();
      await h.tick();
      assert.deepEqual(h.runtime.ops.filter((o) => o === 'create:m'), ['create:m']);
      assert.ok(h.events.events.some((e) => e.name === 'nocfg' && e.reason === 'FailedMount'));
    } finally {
      await h.close();
    }
  });
});

describe('network beside container create', () => {
  it('creates the first container while the network attaches, starts it only after, and writes the pod IP into the hosts file', async () => {
    const h = await new Harness({ runtime: { hostsAtStart: true } }).init();
    try {
      // the network cannot finish before the container exists: only the overlap gets this pod Running
      h.network.gate = () => eventually(() => h.runtime.ops.includes('create:b'), 'container created during network set-up');
      h.start();
      await h.createPod('beside', { containers: [app({ name: 'b' })] });
      const p = await h.until('beside', (x) => x.status?.phase === 'Running', 'Running');
      const ops = h.runtime.ops;
      assert.ok(ops.indexOf('setSandboxHosts:beside') > ops.indexOf('create:b'), ops.join(' '));
      assert.ok(ops.indexOf('start:b') > ops.indexOf('setSandboxHosts:beside'), ops.join(' '));
      assert.deepEqual(h.network.ops.filter((o) => o.endsWith(':beside')), ['prepare:beside', 'setUp:beside']);
      const sb = [...h.runtime.sandboxes.values()].find((s) => s.pod.name === 'beside');
      assert.match(sb?.hostsFile ?? '', new RegExp(`^${p.status?.podIP}\\tbeside$`, 'm'));
      // env naming the pod IP needs the address before create: the network comes first then
      await h.createPod('envip', { containers: [app({ name: 'e', env: [{ name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] })] });
      const q = await h.until('envip', (x) => x.status?.phase === 'Running', 'Running');
      assert.equal(h.network.ops.includes('prepare:envip'), false);
      assert.equal(h.runtime.byName('e')?.cfg.env.find((e) => e.name === 'IP')?.value, q.status?.podIP);
    } finally {
      h.network.gate = undefined;
      await h.close();
    }
  });

  it('a network that fails after the container was created frees sandbox and container, reports the error, and retries', async () => {
    const h = await new Harness({ runtime: { hostsAtStart: true } }).init();
    try {
      let fail = true;
      h.network.gate = async () => {
        await eventually(() => h.runtime.ops.includes('create:f'), 'container created');
        if (fail) throw new Error('CNI ADD failed: no addresses left');
      };
      h.start();
      await h.createPod('netfail', { containers: [app({ name: 'f' })] });
      await eventually(() => h.events.events.some((e) => e.name === 'netfail' && e.reason === 'FailedCreatePodSandBox'), 'FailedCreatePodSandBox');
      await eventually(() => h.runtime.ops.includes('removeSandbox:netfail'), 'sandbox removed');
      assert.equal(h.runtime.ops.includes('start:f'), false);
      assert.equal(h.runtime.byName('f'), undefined);
      const p = await h.until('netfail', (x) => cs(x, 'f')?.state?.waiting !== undefined, 'waiting');
      assert.equal(p.status?.phase, 'Pending');
      assert.equal(cs(p, 'f')?.restartCount, 0);
      fail = false;
      await h.tick();
      await h.until('netfail', (x) => x.status?.phase === 'Running' && cs(x, 'f')?.restartCount === 0, 'Running after the retry');
    } finally {
      h.network.gate = undefined;
      await h.close();
    }
  });
});

describe('locate', () => {
  it('finds a container by pod name, forgets a deleted pod and finds the new pod of the same name', async () => {
    const h = await new Harness().init();
    try {
      h.start();
      await h.createPod('one', { containers: [app({ name: 'a' })] });
      await h.createPod('two', { containers: [app({ name: 'b' }), app({ name: 'c' })] });
      const one = await h.until('one', (x) => x.status?.phase === 'Running', 'one Running');
      const two = await h.until('two', (x) => x.status?.phase === 'Running', 'two Running');
      const id = (p: Pod, c: string): string | undefined => cs(p, c)?.containerID?.replace('hedge://', '');
      assert.equal(h.sync?.locate('default', 'one', 'a')?.id, id(one, 'a'));
      assert.equal(h.sync?.locate('default', 'two', 'c')?.id, id(two, 'c'));
      assert.equal(h.sync?.locate('default', 'two')?.id, id(two, 'b'), 'no container name: the first');
      assert.equal(h.sync?.locate('default', 'two', 'x'), undefined);
      assert.equal(h.sync?.locate('default', 'nope', 'a'), undefined);
      assert.equal(h.sync?.locate('other', 'one', 'a'), undefined);

      await h.client.delete(Resources.pods, 'one', { namespace: 'default', gracePeriodSeconds: 0 });
      for (let i = 0; i < 50 && (await h.pod('one')); i++) await h.tick();
      await eventually(() => h.sync?.locate('default', 'one', 'a') === undefined, 'one forgotten');
      await h.createPod('one', { containers: [app({ name: 'a' })] });
      const again = await h.until('one', (x) => x.status?.phase === 'Running', 'new one Running');
      assert.notEqual(id(again, 'a'), id(one, 'a'));
      assert.equal(h.sync?.locate('default', 'one', 'a')?.id, id(again, 'a'));
      assert.equal(h.sync?.locate('default', 'two', 'b')?.id, id(two, 'b'));
    } finally {
      await h.close();
    }
  });
});

describe('admission under node pressure (the eviction manager\'s admit handler)', () => {
  const conditions = new Set<PressureCondition>();
  let h: Harness;
  before(async () => {
    h = new Harness();
    h.admitHandlers = [{ admit: (p) => admitUnderPressure(p, conditions) }];
    await h.init();
    h.start();
  });
  after(() => h.close());

  it('under DiskPressure a new pod is refused: a Warning event, Failed/Evicted "Pod was rejected: …", nothing made; one admitted before runs on, a critical one is admitted', async () => {
    await h.createPod('before', { containers: [app({ name: 'b' })] });
    await h.until('before', (x) => x.status?.phase === 'Running', 'Running');
    conditions.add('DiskPressure');
    await h.createPod('late', { containers: [app({ name: 'l' })], tolerations: [{ key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' }] });
    const late = await h.until('late', (x) => x.status?.phase === 'Failed', 'Failed', 5);
    assert.deepEqual([late.status?.reason, late.status?.message], ['Evicted', 'Pod was rejected: The node had condition: [DiskPressure]. ']);
    assert.equal(late.status?.containerStatuses, undefined, 'it never ran');
    assert.ok(late.status?.startTime);
    assert.ok(h.events.events.some((e) => e.name === 'late' && e.type === 'Warning' && e.reason === 'Evicted' && e.message === 'The node had condition: [DiskPressure]. '), JSON.stringify(h.events.events.filter((e) => e.name === 'late')));
    assert.ok(!h.runtime.ops.some((o) => o === 'createSandbox:late' || o === 'create:l'), h.runtime.ops.join(' '));
    assert.ok(!h.sync!.activePods().some((p) => p.metadata?.name === 'late'), 'not an eviction candidate');
    await h.createPod('crit', { priorityClassName: 'system-node-critical', containers: [app({ name: 'k' })] });
    await h.until('crit', (x) => x.status?.phase === 'Running', 'critical pod Running');
    await h.tick(h.cfg.idleResyncMs);
    assert.equal((await h.pod('before'))?.status?.phase, 'Running', 'admitted before the pressure: untouched');
    assert.equal((await h.pod('late'))?.status?.phase, 'Failed', 'never started later either');
    assert.ok(!h.runtime.ops.includes('create:l'));
  });

  it('a restarted agent under pressure adopts the pods it runs (not asked again); a pod that came meanwhile is refused', async () => {
    await h.stop();
    await h.createPod('meanwhile', { containers: [app({ name: 'm' })] });
    const creates = h.runtime.ops.filter((o) => o === 'create:b').length;
    h.start();
    await eventually(() => h.sync?.hasSynced() === true, 'synced');
    await h.tick();
    await h.until('meanwhile', (x) => x.status?.phase === 'Failed', 'Failed', 5);
    assert.equal((await h.pod('before'))?.status?.phase, 'Running');
    assert.equal(h.runtime.ops.filter((o) => o === 'create:b').length, creates, 'adopted, not restarted');
  });

  it('MemoryPressure refuses a BestEffort pod only, unless it tolerates the memory-pressure taint; the refusal is written once the API is back', async () => {
    conditions.clear();
    conditions.add('MemoryPressure');
    await h.createPod('burstable', { containers: [app({ name: 'u', resources: { requests: { memory: '16Mi' } } })] });
    await h.createPod('tolerant', { tolerations: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' }], containers: [app({ name: 't' })] });
    await h.until('burstable', (x) => x.status?.phase === 'Running', 'Burstable Running');
    await h.until('tolerant', (x) => x.status?.phase === 'Running', 'tolerating BestEffort Running');
    const away = cloudAway(h, 'besteffort', 2);
    try {
      await h.createPod('besteffort', { containers: [app({ name: 'e' })] });
      const p = await h.until('besteffort', (x) => x.status?.phase === 'Failed', 'Failed after retries', 10);
      assert.deepEqual([p.status?.reason, p.status?.message, away.refused], ['Evicted', 'Pod was rejected: The node had condition: [MemoryPressure]. ', 2]);
      assert.ok(!h.runtime.ops.includes('create:e'));
    } finally {
      away.restore();
      conditions.clear();
    }
  });
});
