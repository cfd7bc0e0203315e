/**
 * Issue 3's end-to-end check: real `hedge server` + real `hedge node` + a real docker-registry
 * holding the fixture images, driven with the real kubectl.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { RunningRegistry } from '../fixtures/images/registry.ts';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, readLines, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { fetchText, waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('edge node: hedge server + hedge node + docker-registry', { skip, timeout: 240_000 }, () => {
  let server: HedgeServer;
  let node: HedgeNode;
  let registry: RunningRegistry;
  let stack: EdgeStack | undefined;
  let httpdImage = '';
  let busyboxImage = '';
  const nodeName = `e2e-${process.pid}`;

  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  // which pod a leaked sandbox belonged to (its sandbox.json under the node's data dir names it)
  const leakOwners = (ids: string[]): string =>
    ids.map((id) => {
      const r = spawnSync('sh', ['-c', `grep -rl ${id} ${node.dataDir}/pods 2>/dev/null | head -3; grep -rh '"name"' $(grep -rl ${id} ${node.dataDir}/pods 2>/dev/null | head -1) 2>/dev/null | head -2`]);
      return `${id}: ${r.stdout.toString().trim()}`;
    }).join('\n');
  const explain = (): string => `node output:\n${node.output().slice(-3000)}`;
  const waitRunning = (name: string): Promise<Pod> =>
    waitUntil(`${name} Running with an IP`, 60_000, async () => {
      const p = await getPod(name);
      return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready ? p : undefined;
    }, explain);
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const webPod = (name: string, runtimeClassName: string): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'web' } },
      spec: {
        runtimeClassName,
        // httpd as pid 1 ignores SIGTERM: do not wait the default 30 s for it on delete
        terminationGracePeriodSeconds: 2,
        containers: [{ name: 'web', image: httpdImage, command: ['sh', '-c', 'echo serving on 8080; exec httpd -f -p 8080 -h /www'], ports: [{ containerPort: 8080 }],
          // Ready = listening (the process starts a moment before httpd binds its port)
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          // an exec postStart hook, through the runtime's exec as kubectl exec
          lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo hooked > /tmp/post-start'] } } } }],
      },
    });

  before(async () => {
    stack = await startEdgeStack({ nodes: [{ name: nodeName }] });
    ({ server, node, registry, httpdImage, busyboxImage } = stack);
  });

  // deletes what a failed test left (so the agent tears it down), then removes the rest by hand
  after(() => stack?.close());

  it('runs pods under runc and gVisor that serve HTTP on their pod IPs', async () => {
    await kubectl(['apply', '-f', '-'], webPod('web-runc', 'runc'));
    await kubectl(['apply', '-f', '-'], webPod('web-gvisor', 'gvisor'));
    const runc = await waitRunning('web-runc');
    const gvisor = await waitRunning('web-gvisor');
    assert.notEqual(runc.status?.podIP, gvisor.status?.podIP);
    for (const p of [runc, gvisor]) {
      assert.equal(p.spec?.nodeName, nodeName);
      assert.match(await fetchText(p.status!.podIP!), /hello from hedge/);
    }
    const wide = await kubectl(['get', 'pods', '-o', 'wide']);
    assert.match(wide, /web-runc\s+1\/1\s+Running/);
    assert.match(wide, /web-gvisor\s+1\/1\s+Running/);
  });

  it('kubectl logs, logs -f and exec work through the apiserver for both runtimes', async () => {
    for (const name of ['web-runc', 'web-gvisor']) {
      assert.match(await kubectl(['logs', name]), /serving on 8080/);
      const follow = server.spawnKubectl(['logs', '-f', name]);
      const lines = readLines(follow);
      try {
        await lines.waitFor((l) => l.includes('serving on 8080'), 20_000);
      } finally {
        follow.kill('SIGKILL');
      }
      assert.equal((await kubectl(['exec', name, '--', 'echo', 'hi'])).trim(), 'hi');
      assert.equal((await kubectl(['exec', name, '--', 'cat', '/tmp/post-start'])).trim(), 'hooked', 'the postStart hook ran');
      // in-cluster clients find the apiserver through the service variables...
      const apiIP = (await kubectl(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
      assert.equal((await kubectl(['exec', name, '--', 'sh', '-c', 'echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT'])).trim(), `${apiIP}:443`);
      // ...and authenticate with the mounted token, checking the apiserver with the mounted CA
      const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
      assert.equal((await kubectl(['exec', name, '--', 'cat', `${sa}/namespace`])).trim(), 'default');
      const token = (await kubectl(['exec', name, '--', 'cat', `${sa}/token`])).trim();
      const ca = await kubectl(['exec', name, '--', 'cat', `${sa}/ca.crt`]);
      const inPod = join(server.dataDir, `${name}.kubeconfig`);
      await writeFile(inPod, JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: server.url, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }));
      const who = await server.kubectl(['--kubeconfig', inPod, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
      assert.equal(who.stdout.trim(), 'system:serviceaccount:default:default', who.stderr);
      // runc pods get their network attached while the container is created: the pod IP is
      // written into the hosts file in place, after the file was bind-mounted
      const ip = (await getPod(name))?.status?.podIP;
      assert.match(await kubectl(['exec', name, '--', 'cat', '/etc/hosts']), new RegExp(`^${ip?.replace(/\./g, '\\.')}\t${name}$`, 'm'));
    }
  });

  it('an unpullable image ends in ErrImagePull/ImagePullBackOff with the registry reason', async () => {
    await kubectl(['run', 'bad-image', `--image=${registry.host}/hedge/nope:1`, '--restart=Never']);
    const waiting = await waitUntil('image pull failure', 30_000, async () => {
      const w = (await getPod('bad-image'))?.status?.containerStatuses?.[0]?.state?.waiting;
      return w && ['ErrImagePull', 'ImagePullBackOff'].includes(w.reason ?? '') ? w : undefined;
    }, explain);
    // docker-registry answers NAME_UNKNOWN / MANIFEST_UNKNOWN; its wording must reach the user
    assert.match(waiting.message ?? '', /unknown|not found/i, JSON.stringify(waiting));
  });

  it('a command exiting 3 with restartPolicy Never leaves the pod Failed with exitCode 3 and the message it wrote to /dev/termination-log', async () => {
    await kubectl(['run', 'exit3', `--image=${busyboxImage}`, '--restart=Never', '--command', '--', 'sh', '-c', 'echo out of cheese > /dev/termination-log; exit 3']);
    const p = await waitUntil('exit3 Failed', 30_000, async () => {
      const pod = await getPod('exit3');
      return pod?.status?.phase === 'Failed' ? pod : undefined;
    }, explain);
    assert.equal(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
    // the default terminationMessagePath and policy (File), as the apiserver defaults them
    assert.equal(p.status?.containerStatuses?.[0]?.state?.terminated?.message, 'out of cheese\n');
  });

  it('a runc container\'s first process reads its configMap and service account token files (written between create and start)', async () => {
    assert.equal((await server.api('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'at-start' }, data: { greeting: 'hello' } })).status, 201);
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const r = await server.api('POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'vols-at-start' },
      spec: {
        restartPolicy: 'Never',
        volumes: [{ name: 'cfg', configMap: { name: 'at-start' } }],
        containers: [{ name: 'c', image: busyboxImage, volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }],
          command: ['sh', '-c', `set -e; g=$(cat /cfg/greeting); n=$(cat ${sa}/namespace); test -s ${sa}/token; test -s ${sa}/ca.crt; echo "$g $n" > /dev/termination-log`] }],
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await waitUntil('vols-at-start finished', 30_000, async () => {
      const pod = await getPod('vols-at-start');
      return pod?.status?.phase === 'Succeeded' || pod?.status?.phase === 'Failed' ? pod : undefined;
    }, explain);
    assert.equal(p.status?.phase, 'Succeeded', JSON.stringify(p.status?.containerStatuses));
    assert.equal(p.status?.containerStatuses?.[0]?.state?.terminated?.message, 'hello default\n');
  });

  it('kubectl debug --target: an ephemeral container joins the pod and sees its target\'s processes', async () => {
    await kubectl(['debug', 'web-runc', `--image=${busyboxImage}`, '--target=web', '-c', 'dbg', '--', 'sleep', '3600']);
    const p = await waitUntil('ephemeral container running', 60_000, async () => {
      const pod = await getPod('web-runc');
      return pod?.status?.ephemeralContainerStatuses?.[0]?.state?.running ? pod : undefined;
    }, explain);
    assert.equal(p.status?.ephemeralContainerStatuses?.[0]?.name, 'dbg');
    const procs = await kubectl(['exec', 'web-runc', '-c', 'dbg', '--', 'sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "']);
    assert.match(procs, /httpd -f -p 8080/, 'the target\'s PID namespace');
    assert.equal(p.status?.containerStatuses?.[0]?.restartCount, 0, 'the pod\'s own container untouched');
  });

  it('kubectl debug --custom naming the pod\'s kube-api-access volume: that ephemeral container reads token, CA and namespace; others get none (upstream mounts nothing unasked)', async () => {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const vol = (await getPod('web-runc'))?.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'))?.name;
    assert.ok(vol, 'the pod has its token volume');
    const custom = join(server.dataDir, 'debug-token.json');
    await writeFile(custom, JSON.stringify({ volumeMounts: [{ name: vol, mountPath: sa, readOnly: true }] }));
    await kubectl(['debug', 'web-runc', `--image=${busyboxImage}`, `--custom=${custom}`, '-c', 'dbg-token', '--', 'sleep', '3600']);
    await waitUntil('dbg-token running', 60_000, async () => ((await getPod('web-runc'))?.status?.ephemeralContainerStatuses?.find((s) => s.name === 'dbg-token')?.state?.running ? true : undefined), explain);
    assert.equal((await kubectl(['exec', 'web-runc', '-c', 'dbg-token', '--', 'cat', `${sa}/namespace`])).trim(), 'default');
    assert.match((await kubectl(['exec', 'web-runc', '-c', 'dbg-token', '--', 'cat', `${sa}/token`])).trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT');
    assert.match(await kubectl(['exec', 'web-runc', '-c', 'dbg-token', '--', 'cat', `${sa}/ca.crt`]), /BEGIN CERTIFICATE/);
    // read-only, as mounted (the shell itself runs, so a failure is the write's)
    assert.notEqual((await kubectl(['exec', 'web-runc', '-c', 'dbg-token', '--', 'sh', '-c', `echo x 2>/dev/null > ${sa}/token; echo $?`])).trim(), '0', 'the token volume is read-only');
    // the debug container of the test before named nothing: it has no token
    assert.equal((await kubectl(['exec', 'web-runc', '-c', 'dbg', '--', 'sh', '-c', `test -e ${sa}/token; echo $?`])).trim(), '1', 'no token where none was asked for');
  });

  it('stdin for a container\'s own process: kubectl run -i --rm with piped input, debug -i, exec -it and attach -it through a terminal with its size', async () => {
    // stdinOnce (what run -i sets): the input's end closes cat's stdin, cat exits, --rm deletes the pod
    const run = await kubectl(['run', 'stdin-cat', '-i', '--rm', '--restart=Never', `--image=${busyboxImage}`, '--command', '--', 'cat'], 'hello through stdin\n');
    assert.match(run, /^hello through stdin$/m);

    const dbg = await kubectl(['debug', 'web-runc', '-i', `--image=${busyboxImage}`, '-c', 'dbg-in', '--', 'sh', '-c', 'read x; echo "got $x"'], 'ping\n');
    assert.match(dbg, /^got ping$/m);

    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tty-runc' },
      spec: { runtimeClassName: 'runc', restartPolicy: 'Never', terminationGracePeriodSeconds: 1,
        // reads a line, waits for the size kubectl sends on the resize channel, says both; kubectl
        // attach sends the size one larger first, then the size (to force a redraw): wait for the last
        containers: [{ name: 'sh', image: busyboxImage, tty: true, stdin: true, stdinOnce: true,
          command: ['sh', '-c', 'read x; until [ "$(stty size)" = "30 100" ]; do sleep 0.1; done; echo "size $(stty size) got $x"'] }] },
    }));
    await waitRunning('tty-runc');
    // kubectl uses a terminal only when its stdin is one: script(1) gives it one, 30 rows × 100 columns
    const bin = findKubectl()!;
    // exec -it: the process's terminal has kubectl's size, from the resize channel (the runtime's exec
    // copies it from the terminal pty-run gives it)
    for (const name of ['web-runc', 'web-gvisor']) {
      const ex = spawn('script', ['-qfec', `stty cols 100 rows 30; exec ${bin} exec -it ${name} -- sh -c 'tty; until [ "$(stty size)" = "30 100" ]; do sleep 0.1; done; echo "size $(stty size)"; exit 3'`, '/dev/null'], { env: { ...process.env, KUBECONFIG: server.kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      ex.stdout.on('data', (d: Buffer) => (text += d.toString()));
      ex.stderr.on('data', (d: Buffer) => (text += d.toString()));
      try {
        await waitUntil(`kubectl exec -it ${name} done`, 30_000, async () => (ex.exitCode !== null ? true : undefined), () => `${text}\n${explain()}`);
        assert.equal(ex.exitCode, 3, `${name}: ${text}`);
        // gVisor's terminal is the host's pty passed into the sandbox: it answers terminal ioctls but
        // has no /dev/pts name in there (tty(1) says "not a tty"); runc's is the container's devpts
        if (name === 'web-runc') assert.match(text, /\/dev\/pts\/\d+/, `${name}: ${text}`);
        assert.match(text, /size 30 100/, `${name}: ${text}`);
      } finally {
        if (ex.exitCode === null) ex.kill('SIGKILL');
      }
    }
    const attach = spawn('script', ['-qfec', `stty cols 100 rows 30; exec ${bin} attach -it tty-runc`, '/dev/null'], { env: { ...process.env, KUBECONFIG: server.kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    attach.stdout.on('data', (d: Buffer) => (out += d.toString()));
    attach.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => attach.on('exit', (code) => resolve(code)));
    try {
      // printed once kubectl has put the terminal in raw mode: typing from then on goes to the container
      await waitUntil('kubectl attach ready', 30_000, async () => (out.includes("If you don't see a command prompt") ? true : undefined), () => out);
      attach.stdin.write('hi\n');
      await waitUntil('kubectl attach done', 30_000, async () => (attach.exitCode !== null ? true : undefined), () => `${out}\n${explain()}`);
      assert.equal(await exited, 0, out);
      assert.match(out, /size 30 100 got hi/);
    } finally {
      attach.stdin.end();
      if (attach.exitCode === null) attach.kill('SIGKILL');
    }
  });

  it('a StatefulSet\'s claim gets a local-path volume on the node: its data outlives the pod, and deleting the claim frees the directory through the node proxy', async () => {
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'store' },
      spec: {
        serviceName: 'store', replicas: 1, selector: { matchLabels: { app: 'store' } },
        template: {
          metadata: { labels: { app: 'store' } },
          spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, securityContext: { runAsUser: 1000, runAsGroup: 1000 },
            containers: [{ name: 'c', image: busyboxImage, command: ['sh', '-c', 'sleep 3600'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }] },
        },
        // no storageClassName: the default class (local-path, WaitForFirstConsumer) provisions on the node the scheduler picks
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } } }],
      },
    }));
    const first = await waitRunning('store-0');
    const claim = JSON.parse(await kubectl(['get', 'pvc', 'data-store-0', '-o', 'json'])) as { metadata: { uid: string; annotations?: Record<string, string> }; spec: { volumeName?: string; storageClassName?: string }; status?: { phase?: string } };
    assert.equal(claim.status?.phase, 'Bound');
    assert.equal(claim.spec.storageClassName, 'local-path');
    assert.equal(claim.metadata.annotations?.['volume.kubernetes.io/selected-node'], nodeName);
    const pv = claim.spec.volumeName;
    assert.equal(pv, `pvc-${claim.metadata.uid}`);
    assert.match(await kubectl(['get', 'pv', pv!, '-o', 'jsonpath={.spec.csi.driver} {.status.phase} {.spec.claimRef.name}']), /^local-path\.hedge\.io Bound data-store-0$/);
    // a non-root container can write it (the directory is 0777, as local-path-provisioner makes it)
    await kubectl(['exec', 'store-0', '--', 'sh', '-c', 'echo kept > /data/mark']);
    const dir = join(node.dataDir, 'local-path', pv!);
    assert.equal(spawnSync('cat', [join(dir, 'mark')]).stdout.toString(), 'kept\n');

    // the pod goes; the set makes it again on the same claim, and the data is there
    await kubectl(['delete', 'pod', 'store-0', '--wait=true', '--timeout=60s']);
    const second = await waitUntil('store-0 again', 60_000, async () => {
      const p = await getPod('store-0');
      return p?.metadata?.uid !== first.metadata?.uid && p?.status?.phase === 'Running' ? p : undefined;
    }, explain);
    assert.notEqual(second.metadata?.uid, first.metadata?.uid);
    assert.equal((await kubectl(['exec', 'store-0', '--', 'cat', '/data/mark'])).trim(), 'kept');

    // set and claim deleted: the volume is Released, reclaimed (Delete) through the node and gone
    await kubectl(['delete', 'statefulset', 'store', '--wait=true', '--timeout=60s']);
    await waitUntil('store-0 gone', 60_000, async () => ((await getPod('store-0')) === undefined ? true : undefined), explain);
    await kubectl(['delete', 'pvc', 'data-store-0', '--wait=true', '--timeout=60s']);
    await waitUntil(`${pv} reclaimed`, 60_000, async () => ((await server.api('GET', `/api/v1/persistentvolumes/${pv}`)).status === 404 ? true : undefined), explain);
    assert.equal(spawnSync('test', ['-e', dir]).status, 1, `${dir} removed`);
  });

  it('a generic ephemeral volume: its claim is made for the pod, provisioned on the node, and goes with the pod', async () => {
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'scratch' },
      spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1,
        containers: [{ name: 'c', image: busyboxImage, command: ['sh', '-c', 'echo hi > /scratch/f; sleep 3600'], volumeMounts: [{ name: 'work', mountPath: '/scratch' }] }],
        volumes: [{ name: 'work', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Mi' } } } } } }] },
    }));
    const pod = await waitRunning('scratch');
    const claim = JSON.parse(await kubectl(['get', 'pvc', 'scratch-work', '-o', 'json'])) as { metadata: { ownerReferences?: { uid: string; controller?: boolean }[] }; spec: { volumeName?: string } };
    assert.deepEqual(claim.metadata.ownerReferences?.map((o) => [o.uid, o.controller]), [[pod.metadata?.uid, true]]);
    const dir = join(node.dataDir, 'local-path', claim.spec.volumeName!);
    assert.equal((await kubectl(['exec', 'scratch', '--', 'cat', '/scratch/f'])).trim(), 'hi');
    await kubectl(['delete', 'pod', 'scratch', '--wait=true', '--timeout=60s']);
    // garbage collection takes the claim with its pod; the volume is then reclaimed on the node
    await waitUntil('scratch-work collected', 60_000, async () => ((await server.api('GET', '/api/v1/namespaces/default/persistentvolumeclaims/scratch-work')).status === 404 ? true : undefined), explain);
    await waitUntil(`${dir} removed`, 60_000, async () => (spawnSync('test', ['-e', dir]).status === 1 ? true : undefined), explain);
  });

  it('a static local PV of a no-provisioner class: the scheduler gives it to the claim on the node it lives on, the pod writes to the host directory, Retain keeps the data', async () => {
    const disk = await mkdtemp(join(tmpdir(), 'hedge-local-pv-'));
    try {
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local-disks' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Retain' },
        { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'disk-e2e' },
          spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'local-disks', persistentVolumeReclaimPolicy: 'Retain', local: { path: disk },
            nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName] }] }] } } } },
        { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'logs' }, spec: { storageClassName: 'local-disks', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Mi' } } } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'logger' },
          spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: busyboxImage, command: ['sh', '-c', 'echo on-disk > /data/line; sleep 3600'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
            volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'logs' } }] } },
      ] }));
      await waitRunning('logger');
      assert.match(await kubectl(['get', 'pvc', 'logs', '-o', 'jsonpath={.status.phase} {.spec.volumeName}']), /^Bound disk-e2e$/);
      const pv = JSON.parse(await kubectl(['get', 'pv', 'disk-e2e', '-o', 'json'])) as { metadata: { annotations?: Record<string, string> }; spec: { claimRef?: { name?: string } }; status?: { phase?: string } };
      assert.equal(pv.spec.claimRef?.name, 'logs');
      assert.equal(pv.metadata.annotations?.['pv.kubernetes.io/bound-by-controller'], 'yes');
      await waitUntil('the line on the host disk', 30_000, async () => (spawnSync('cat', [join(disk, 'line')]).stdout.toString() === 'on-disk\n' ? true : undefined), explain);
      // a second claim finds no free disk: its pod waits, naming why
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'logs-2' }, spec: { storageClassName: 'local-disks', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Mi' } } } },
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'logger-2' },
          spec: { runtimeClassName: 'runc', containers: [{ name: 'c', image: busyboxImage, command: ['sleep', '3600'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
            volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'logs-2' } }] } },
      ] }));
      await waitUntil('logger-2 unschedulable', 30_000, async () => {
        const ev = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=logger-2,reason=FailedScheduling', '-o', 'jsonpath={.items[*].message}']);
        return /didn't find available persistent volumes to bind/.test(ev) ? true : undefined;
      }, explain);
      await kubectl(['delete', 'pod', 'logger', 'logger-2', '--wait=true', '--timeout=60s']);
      await kubectl(['delete', 'pvc', 'logs', 'logs-2', '--wait=true', '--timeout=60s']);
      await waitUntil('disk-e2e Released', 30_000, async () => ((await kubectl(['get', 'pv', 'disk-e2e', '-o', 'jsonpath={.status.phase}'])) === 'Released' ? true : undefined), explain);
      assert.equal(spawnSync('cat', [join(disk, 'line')]).stdout.toString(), 'on-disk\n', 'Retain: the data stays on the host');
      await kubectl(['delete', 'pv', 'disk-e2e', '--wait=true', '--timeout=60s']);
      await kubectl(['delete', 'storageclass', 'local-disks']);
    } finally {
      await rm(disk, { recursive: true, force: true });
    }
  });

  it('kill -9 of the agent and a restart leave containers running, adopted unchanged', async () => {
    const before = await Promise.all(['web-runc', 'web-gvisor'].map(async (n) => (await getPod(n))!));
    const conmons = (await node.hostState()).conmonPids;
    assert.ok(conmons.length >= 2, `conmon processes: ${conmons.join(',')}`);
    await node.kill9();
    // the containers do not depend on the agent (a GET may meet the instant of the kill: a few seconds' grace)
    const serves = (ip: string): Promise<true> =>
      waitUntil(`HTTP on ${ip}`, 5_000, async () => ((await fetchText(ip).catch(() => '')).includes('hello from hedge') ? true : undefined));
    for (const p of before) await serves(p.status!.podIP!);
    await node.start();
    // logs go through the Node's advertised (new) port to the new agent, which must have adopted the container
    await waitUntil('restarted agent serving logs', 30_000, async () => {
      const r = await server.kubectl(['logs', 'web-gvisor']);
      return r.code === 0 && r.stdout.includes('serving on 8080') ? true : undefined;
    }, explain);
    for (const b of before) {
      const a = await waitRunning(b.metadata!.name!);
      assert.equal(a.metadata?.uid, b.metadata?.uid);
      assert.equal(a.status?.containerStatuses?.[0]?.restartCount, b.status?.containerStatuses?.[0]?.restartCount);
      assert.equal(a.status?.containerStatuses?.[0]?.containerID, b.status?.containerStatuses?.[0]?.containerID);
      assert.equal(a.status?.containerStatuses?.[0]?.state?.running?.startedAt, b.status?.containerStatuses?.[0]?.state?.running?.startedAt);
      await serves(a.status!.podIP!);
    }
    const still = (await node.hostState()).conmonPids;
    for (const pid of conmons) assert.ok(still.includes(pid), `conmon ${pid} was replaced: before ${conmons.join(',')}, after ${still.join(',')}`);
  });

  it('kubectl delete removes the pods and leaves nothing behind on the host', async () => {
    // an earlier failure may have left the agent down; the cleanup is its job
    if (!node.running()) await node.start();
    await kubectl(['delete', 'pods', 'web-runc', 'web-gvisor', 'bad-image', 'exit3', 'tty-runc', 'stdin-cat', 'vols-at-start', '--ignore-not-found', '--wait=true', '--timeout=60s']);
    const list = await server.api('GET', '/api/v1/namespaces/default/pods');
    assert.deepEqual((list.body as { items: Pod[] }).items.map((p) => p.metadata?.name), []);
    const empty = { netns: [], conmonPids: [], podCgroups: [], bridgePorts: [], mounts: [] };
    // the API object goes once the agent confirmed; allow its teardown bookkeeping a moment to settle
    let last = await node.hostState();
    await waitUntil('host state clean', 15_000, async () => {
      last = await node.hostState();
      return JSON.stringify(last) === JSON.stringify(empty) ? true : undefined;
    }, () => `${JSON.stringify(last, null, 2)}\n${leakOwners(last.netns)}`);
    assert.deepEqual(last, empty);
  });
});
