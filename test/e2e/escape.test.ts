/**
 * Issue 14's cross-pod escape suite on a real `hedge server` + `hedge node`, one probe pod per
 * runtime that runs here (runc, gVisor, microVM under TCG) beside a victim pod. Every attempt is
 * paired with a positive control, the same probe where it must work, so no row passes because
 * the probe itself is broken:
 *   processes  the victim's process is not in the probe's /proc, nor signallable by its host pid
 *              (ptrace needs it first)           · control: the probe sees and signals its own
 *   volumes    the victim's emptyDir token and Secret value are nowhere in the probe's files
 *                                                 · control: its own token and Secret are found
 *   devices    no host disk, memory or port device in /dev · control: /dev/urandom reads
 *   node ports the agent's API and the hub's port on the node's address are refused
 *                                                 · control: a port the test opens there connects
 *   IP spoof   a NET_ADMIN pod pings from an address it does not own: no reply
 *                                                 · control: the same ping from its own address
 *   ARP spoof  it claims the victim's address in gratuitous ARP: the node keeps the victim's MAC
 *                                                 · control: the forged frames were sent
 *   memory     a hog past its limit is killed in its own cgroup/VM · control: node Ready, the
 *              probes untouched and still exec-able
 * Prints the table. Skips (with the reason) like the node e2e; the microVM column is left out
 * with its reason when the machine cannot run one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, run } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason, type HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter', '/usr/sbin/nft'];
const NS = 'escape';

function skipReason(): string | undefined {
  return edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');
}

type Runtime = 'runc' | 'gvisor' | 'microvm';
type Verdict = { denied: boolean; control: boolean; detail: string };

describe('escape suite: pods against each other and the node, per runtime', { skip: skipReason(), timeout: 600_000 }, () => {
  let stack: EdgeStack;
  let node: HedgeNode;
  const nodeName = `e2e-esc-${process.pid}`;
  const mvmSkip = microvmSkipReason();
  const runtimes: Runtime[] = ['runc', 'gvisor', ...(mvmSkip ? [] : (['microvm'] as const))];
  const rnd = (): string => randomBytes(8).toString('hex');
  const victimToken = `victim-${rnd()}`;
  const victimSecret = `vsecret-${rnd()}`;
  const own = Object.fromEntries(runtimes.map((r) => [r, { token: `own-${r}-${rnd()}`, secret: `osecret-${r}-${rnd()}` }])) as Record<Runtime, { token: string; secret: string }>;
  const table = new Map<string, Map<Runtime, Verdict>>();
  let control: Server | undefined;
  let controlPort = 0;
  let agentPort = 0;
  let hubPort = 0;
  let victimIP = '';
  let victimMac = '';

  const record = (attempt: string, rt: Runtime, v: Verdict): void => {
    if (!table.has(attempt)) table.set(attempt, new Map());
    table.get(attempt)!.set(rt, v);
  };
  const kubectl = async (args: string[], input?: string, timeoutMs = 60_000): Promise<string> => {
    const r = await stack.server.kubectl(args, { input, timeoutMs });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** runs `sh -c script` in the pod; the script reports `key=value` lines */
  const probe = async (pod: string, script: string): Promise<Map<string, string>> => {
    const out = await kubectl(['exec', '-n', NS, pod, '--', 'sh', '-c', script], undefined, 120_000);
    return new Map(out.split('\n').filter((l) => /^[a-z0-9_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  };
  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await stack.server.api('GET', `/api/v1/namespaces/${NS}/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const waitRunning = (name: string, timeoutMs: number): Promise<Pod> =>
    waitUntil(`${name} Running`, timeoutMs, async () => {
      const p = await getPod(name);
      return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.every((c) => c.ready) ? p : undefined;
    }, () => stack.explain());

  const podSpec = (name: string, rt: Runtime, o: { token: string; secretName: string; marker: string; netAdmin?: boolean }): object => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      runtimeClassName: rt === 'runc' ? undefined : rt,
      terminationGracePeriodSeconds: 1,
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'sec', secret: { secretName: o.secretName } },
      ],
      containers: [{
        name: 'c',
        image: stack.busyboxImage,
        // the marker names the process the other pods look for
        command: ['sh', '-c', `echo ${o.token} > /data/token; exec sleep ${o.marker}`],
        volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'sec', mountPath: '/sec' }],
        resources: { limits: { memory: '96Mi' } },
        ...(o.netAdmin ? { securityContext: { capabilities: { add: ['NET_ADMIN'] } } } : {}),
      }],
    },
  });

  before(async () => {
    stack = await startEdgeStack({ nodes: [] });
    const config = join(stack.tmp, 'node.yaml');
    await writeFile(config, `guestDir: ${join(tmpdir(), 'hedge-guest-cache')}\nmicrovmAccelerator: auto\n`);
    // both servers on every node address: the hole the guard closes
    node = await stack.addNode({ name: nodeName, runtimes, extraArgs: ['--config', config, '--listen', '0.0.0.0:0', '--hub-listen', '0.0.0.0:0'] });
    const n = (await stack.server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
    agentPort = n.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0;
    hubPort = Number(/server: https:\/\/[^:]+:(\d+)/.exec(await readFile(join(node.dataDir, 'hub', 'kubeconfig'), 'utf8'))?.[1] ?? 0);
    assert.ok(agentPort > 0 && hubPort > 0, `agent ${agentPort} hub ${hubPort}`);
    // the positive control for the node ports: a port of the test's own on every host address; it greets and closes
    control = createServer((s) => s.end('hello\n'));
    await new Promise<void>((r) => control!.listen(0, '0.0.0.0', r));
    controlPort = (control.address() as { port: number }).port;

    await kubectl(['create', 'namespace', NS]);
    // NET_ADMIN for the spoofing rows: the guard must hold even against pods that may configure their interface
    await kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=privileged']);
    const secrets = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'victim', namespace: NS }, stringData: { value: victimSecret } },
      ...runtimes.map((r) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `probe-${r}`, namespace: NS }, stringData: { value: own[r].secret } })),
    ];
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: secrets }));
    const pods = [
      podSpec('victim', 'runc', { token: victimToken, secretName: 'victim', marker: '31337' }),
      ...runtimes.map((r) => podSpec(`probe-${r}`, r, { token: own[r].token, secretName: `probe-${r}`, marker: '4242', netAdmin: true })),
    ];
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
    const victim = await waitRunning('victim', 60_000);
    victimIP = victim.status!.podIP!;
    for (const r of runtimes) await waitRunning(`probe-${r}`, r === 'microvm' ? 180_000 : 60_000);
    victimMac = /link\/ether (\S+)/.exec(await kubectl(['exec', '-n', NS, 'victim', '--', 'busybox', 'ip', '-o', 'link', 'show', 'eth0']))?.[1] ?? '';
    assert.match(victimMac, /^[0-9a-f:]{17}$/);
  });

  after(async () => {
    if (table.size) {
      const cols = runtimes;
      const cell = (v?: Verdict): string => (v ? `${v.denied ? 'refused' : 'ALLOWED'}${v.control ? '' : ' (control FAILED)'}` : '-');
      const lines = [`| attempt | ${cols.join(' | ')} |`, `| --- |${cols.map(() => ' --- |').join('')}`, ...[...table].map(([a, m]) => `| ${a} | ${cols.map((c) => cell(m.get(c))).join(' | ')} |`)];
      if (mvmSkip) lines.push(`(microvm not run: ${mvmSkip})`);
      process.stdout.write(`# escape suite (pods against pods and the node; each with a positive control):\n${lines.map((l) => `# ${l}`).join('\n')}\n`);
    }
    control?.close();
    if (node) {
      for (const d of await readdir('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        const argv = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (argv[0]?.includes('qemu-system') && argv.some((a) => a.includes(node.dataDir))) process.kill(Number(d), 'SIGKILL');
      }
    }
    await stack?.close();
  });

  it('the node reports each handler\'s isolation boundary (labels and the ready line)', async () => {
    const n = (await stack.server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
    const labels = n.metadata?.labels ?? {};
    assert.equal(labels['isolation.hedge.io/runc'], 'namespaces');
    assert.equal(labels['isolation.hedge.io/gvisor'], 'user-space-kernel.ptrace');
    if (!mvmSkip) assert.match(labels['isolation.hedge.io/microvm'] ?? '', /^microvm\.(kvm|tcg)$/);
    assert.match(node.output(), /runtimes .*runc \(Linux namespaces \+ seccomp, shared host kernel\).*gvisor \(gVisor user-space kernel, ptrace platform\)/);
  });

  for (const rt of ['runc', 'gvisor', 'microvm'] as const) {
    describe(`probe under ${rt}`, { skip: rt === 'microvm' ? mvmSkip : undefined, concurrency: false }, () => {
      const pod = `probe-${rt}`;

      it('cannot see or signal another pod\'s processes; sees its own', async () => {
        const hostPid = await victimHostPid();
        const r = await probe(pod, [
          'all=$(for p in /proc/[0-9]*; do busybox tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done)',
          // the patterns are put together at run time: this script's own command line must not match them
          'v="sleep 3133"; v="${v}7"; o="sleep 424"; o="${o}2"',
          'echo "$all" | grep -q "^$v $" && echo victim_seen=yes || echo victim_seen=no',
          'echo "$all" | grep -q "^$o $" && echo own_seen=yes || echo own_seen=no',
          `kill -0 ${hostPid} 2>/dev/null && echo victim_signal=yes || echo victim_signal=no`,
          'own=$(for p in /proc/[0-9]*; do [ "$(busybox tr "\\0" " " < $p/cmdline 2>/dev/null)" = "$o " ] && echo ${p#/proc/}; done | head -n1)',
          'kill -0 $own 2>/dev/null && echo own_signal=yes || echo own_signal=no',
        ].join('\n'));
        const v = { denied: r.get('victim_seen') === 'no' && r.get('victim_signal') === 'no', control: r.get('own_seen') === 'yes' && r.get('own_signal') === 'yes', detail: JSON.stringify([...r]) };
        record('see/ptrace another pod\'s process', rt, v);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });

      it('cannot read another pod\'s emptyDir or Secret; reads its own', async () => {
        const find = 'busybox find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -size -64k -print 2>/dev/null | busybox xargs grep -l -e';
        const r = await probe(pod, [
          `${find} ${victimToken} -e ${victimSecret} >/dev/null 2>&1 && echo victim_found=yes || echo victim_found=no`,
          `n=$(${find} ${own[rt].token} -e ${own[rt].secret} 2>/dev/null | busybox wc -l); echo own_found=$n`,
        ].join('\n'));
        const v = { denied: r.get('victim_found') === 'no', control: Number(r.get('own_found')) >= 2, detail: JSON.stringify([...r]) };
        record('read another pod\'s emptyDir / Secret', rt, v);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });

      it('sees no host device; its own /dev works', async () => {
        const r = await probe(pod, [
          'echo devs=$(ls /dev | grep -E "^(sd|vd|hd|nvme|xvd|loop|dm-|nbd|sr|mem$|kmem$|port$|kvm$|vhost)" | busybox tr "\\n" ,)',
          'echo urandom=$(head -c 4 /dev/urandom | wc -c)',
        ].join('\n'));
        const v = { denied: r.get('devs') === '', control: r.get('urandom') === '4', detail: JSON.stringify([...r]) };
        record('open a host device', rt, v);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });

      it('cannot reach the agent or hub port on the node; reaches another port there', async () => {
        const conn = (p: number): string => `busybox timeout 10 nc -w 5 $gw ${p} </dev/null >/dev/null 2>&1; echo port_${p}=$?`;
        const r = await probe(pod, [
          'gw=$(busybox ip route | busybox awk "/^default/ {print \\$3}"); echo gw=$gw',
          conn(agentPort),
          conn(hubPort),
          `busybox timeout 10 nc -w 5 $gw ${controlPort} </dev/null | grep -q hello && echo control=ok || echo control=failed`,
        ].join('\n'));
        // nc exits 1 when the connection is refused or times out; anything else (0, killed by timeout) means it connected
        const v = { denied: r.get(`port_${agentPort}`) === '1' && r.get(`port_${hubPort}`) === '1', control: r.get('control') === 'ok', detail: JSON.stringify([...r]) };
        record('reach the agent / hub port on the node', rt, v);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });

      it('cannot send from an address it does not own (even with NET_ADMIN); its own address works', async () => {
        const spoof = spoofAddress(rt);
        const r = await probe(pod, [
          `busybox ip addr add ${spoof}/32 dev eth0 2>/dev/null && echo added=yes || echo added=no`,
          `busybox ping -c 2 -W 2 -I ${spoof} ${victimIP} >/dev/null 2>&1 && echo spoofed=reply || echo spoofed=none`,
          `busybox ping -c 2 -W 2 ${victimIP} >/dev/null 2>&1 && echo own=reply || echo own=none`,
          `gw=$(busybox ip route | busybox awk "/^default/ {print \\$3}"); busybox timeout 10 nc -w 5 $gw ${controlPort} </dev/null | grep -q hello && echo tcp=ok || echo tcp=failed`,
          `busybox ip addr del ${spoof}/32 dev eth0 2>/dev/null; true`,
        ].join('\n'));
        // gVisor (runsc without --net-raw) has no raw sockets and refuses the address change: its control is honest TCP
        const control = r.get('own') === 'reply' || (rt === 'gvisor' && r.get('added') === 'no' && r.get('tcp') === 'ok');
        const v = { denied: r.get('spoofed') === 'none', control, detail: JSON.stringify([...r]) };
        record('IP spoofing to another pod', rt, v);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });

      it('cannot take over another pod\'s address with ARP; the node keeps the victim\'s MAC', async () => {
        // the node resolves the victim first, so there is an entry a forged ARP could overwrite
        await run('busybox', ['ping', '-c', '1', '-W', '2', victimIP]);
        const before = await hostNeighMac(victimIP);
        const r = await probe(pod, [
          `busybox ip addr add ${victimIP}/32 dev eth0 2>/dev/null && echo added=yes || echo added=no`,
          `busybox arping -U -c 3 -I eth0 -s ${victimIP} ${victimIP} 2>&1 | grep -q "Sent 3" && echo sent=yes || echo sent=no`,
          `busybox ip addr del ${victimIP}/32 dev eth0 2>/dev/null; true`,
        ].join('\n'));
        const afterMac = await hostNeighMac(victimIP);
        // gVisor's netstack refuses the address (and raw ARP) inside the sandbox: the frames never leave it
        const sent = r.get('sent') === 'yes';
        const v = { denied: afterMac === victimMac, control: before === victimMac && (sent || (rt === 'gvisor' && r.get('added') === 'no')), detail: `${JSON.stringify([...r])} before=${before} after=${afterMac} victim=${victimMac}` };
        record('ARP spoofing another pod\'s address', rt, v);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });

      it('a memory hog is killed inside its own limit; the node and the other pods carry on', async () => {
        const name = `hog-${rt}`;
        await kubectl(['apply', '-f', '-'], JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: NS },
          spec: {
            runtimeClassName: rt === 'runc' ? undefined : rt,
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: stack.busyboxImage, command: ['sh', '-c', 'echo hogging; tail /dev/zero'], resources: { limits: { memory: '48Mi' } } }],
          },
        }));
        const term = await waitUntil(`${name} killed`, rt === 'microvm' ? 240_000 : 90_000, async () => {
          const p = await getPod(name);
          return p?.status?.containerStatuses?.[0]?.state?.terminated;
        }, () => stack.explain());
        const n = (await stack.server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
        const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        const others = await Promise.all(['victim', ...runtimes.map((r) => `probe-${r}`)].map(async (p) => (await getPod(p))?.status?.containerStatuses?.[0]));
        const untouched = others.every((c) => c?.ready && c.restartCount === 0);
        const execOk = (await probe(pod, 'echo alive=yes')).get('alive') === 'yes';
        const killed = term.reason === 'OOMKilled' || term.exitCode === 137;
        const v = { denied: killed, control: ready && untouched && execOk, detail: `terminated=${JSON.stringify(term)} ready=${ready} untouched=${untouched} exec=${execOk}` };
        record('memory hog past its limit', rt, v);
        await kubectl(['delete', 'pod', '-n', NS, name, '--wait=false']);
        assert.ok(v.control, `control: ${v.detail}`);
        assert.ok(v.denied, v.detail);
      });
    });
  }

  /** the victim's `sleep 31337` as the host sees it (runc: a host process) */
  async function victimHostPid(): Promise<number> {
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const cmd = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
      if (cmd === 'sleep 31337') return Number(d);
    }
    throw new Error('the victim process is not on the host');
  }

  /** an address of the pod subnet no pod has (the top of the node's /24) */
  function spoofAddress(rt: Runtime): string {
    const base = node.podSubnet.split('/')[0]!.split('.').slice(0, 3).join('.');
    return `${base}.${250 - runtimes.indexOf(rt)}`;
  }

  async function hostNeighMac(ip: string): Promise<string> {
    const r = await run('ip', ['neigh', 'show', ip, 'dev', node.bridge]);
    return /lladdr (\S+)/.exec(r.stdout)?.[1] ?? '';
  }
});
