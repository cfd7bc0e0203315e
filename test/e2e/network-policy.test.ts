/**
 * NetworkPolicy end to end (issue 12): real `hedge server` serving networking.k8s.io/v1
 * NetworkPolicy + real `hedge node` enforcing it in its own nftables table, runc pods talking
 * HTTP (busybox httpd, requests by hand over nc: busybox wget fails under gVisor's host network, see two-hosts.ts ncGet). Where runsc is
 * installed a gVisor pod `g` carries b's label and must be policed the same way. The same holds
 * through ClusterIPs (`to-b` selects b and g, `to-a` selects a): a runc client's connection is
 * rewritten to the endpoint at connect() by the node's socket balancer where it runs (the policy
 * sees the endpoint's address, as after the nftables DNAT a gVisor client's takes).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, run, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/sbin/nft', '/usr/bin/nsenter'];
const GVISOR = existsSync('/usr/bin/runsc');
/** the pods the policies select: b (runc) and, with runsc, g (gVisor) */
const TARGETS = GVISOR ? ['b', 'g'] : ['b'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('network policy: deny, allow by label and port, egress deny, enforced by the node\'s nftables', { skip, timeout: 420_000 }, () => {
  let stack: EdgeStack | undefined;
  let server: HedgeServer;
  const table = `hp-pol-${process.pid}`;
  const nodeName = `netpol-${process.pid}`;
  const ip: Record<string, string> = {};
  /** ClusterIPs: `b` → Service to-b (b and g behind it), `a` → to-a */
  const svcIP: Record<string, string> = {};

  const explain = (): string => stack?.explain?.() ?? '';
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const nftTable = async (): Promise<string | undefined> => {
    const r = await run('nft', ['list', 'table', 'inet', table]);
    return r.code === 0 ? r.stdout : undefined;
  };
  /** whether pod `from` gets pod `to`'s page on port 80 (a dropped SYN times out after 3 s) */
  const reaches = async (from: string, to: string): Promise<boolean> => {
    const r = await server.kubectl(['exec', from, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip[to]} 80`]);
    return r.code === 0 && r.stdout.trim().split('\n').at(-1)?.trim() === to;
  };
  /** the pod that answers `from`'s request to the Service's ClusterIP, or undefined */
  const viaService = async (from: string, to: 'a' | 'b'): Promise<string | undefined> => {
    const r = await server.kubectl(['exec', from, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${svcIP[to]} 80`]);
    return r.code === 0 ? r.stdout.trim().split('\n').at(-1)?.trim() : undefined;
  };
  /** `tries` connections from `from` to the Service (each picks an endpoint anew): all blocked */
  const blockedViaService = async (from: string, to: 'a' | 'b', tries = 3): Promise<void> => {
    for (let i = 0; i < tries; i++) assert.equal(await viaService(from, to), undefined, `${from} → ClusterIP of to-${to} got through`);
  };
  const expectReach = (from: string, to: string, want: boolean, ms = 60_000): Promise<boolean> =>
    waitUntil(`${from} → ${to} ${want ? 'allowed' : 'blocked'}`, ms, async () => ((await reaches(from, to)) === want ? true : undefined), explain);
  const pod = (name: string, labels: Record<string, string>, runtime = 'runc'): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels },
      spec: {
        runtimeClassName: runtime,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'web', image: stack!.httpdImage, command: ['sh', '-c', 'mkdir -p /tmp/w && hostname > /tmp/w/index.html && exec httpd -f -p 80 -h /tmp/w'], ports: [{ name: 'http', containerPort: 80 }] }],
      },
    });
  const policy = (name: string, spec: unknown): string => JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec });

  before(async () => {
    stack = await startEdgeStack({
      nodes: [{ name: nodeName, runtimes: GVISOR ? ['runc', 'gvisor'] : ['runc'], extraArgs: ['--network-policy-table', table, '--service-proxy-table', `hp-pp-${process.pid}`] }],
    });
    server = stack.server;
  });

  after(async () => {
    await stack?.close();
    // the node removed its table when it stopped
    assert.equal(await nftTable(), undefined, `nftables table ${table} left behind`);
  });

  it('without a policy every pod reaches every other (the positive control)', async () => {
    for (const [name, labels] of [['a', { role: 'client' }], ['c', {}], ['b', { app: 'b' }]] as const) await kubectl(['apply', '-f', '-'], pod(name, labels));
    if (GVISOR) await kubectl(['apply', '-f', '-'], pod('g', { app: 'b' }, 'gvisor'));
    for (const name of ['a', 'c', ...TARGETS]) {
      ip[name] = await waitUntil(`pod ${name} running with an address`, 180_000, async () => {
        const p = JSON.parse(await kubectl(['get', 'pod', name, '-o', 'json'])) as Pod;
        return p.status?.phase === 'Running' && p.status.podIP ? p.status.podIP : undefined;
      }, explain);
    }
    for (const t of TARGETS) {
      await expectReach('a', t, true);
      await expectReach('c', t, true);
      await expectReach(t, 'a', true);
    }
    for (const [to, selector] of [['b', { app: 'b' }], ['a', { role: 'client' }]] as const) {
      const svc = JSON.parse(await kubectl(['apply', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: `to-${to}` }, spec: { selector, ports: [{ port: 80, targetPort: 80 }] } }))) as { spec?: { clusterIP?: string } };
      svcIP[to] = svc.spec?.clusterIP ?? '';
    }
    await waitUntil('a reaches b through to-b', 60_000, async () => (TARGETS.includes((await viaService('a', 'b')) ?? '') ? true : undefined), explain);
    await waitUntil('b reaches a through to-a', 60_000, async () => ((await viaService('b', 'a')) === 'a' ? true : undefined), explain);
    // served with its short name and table columns
    assert.equal((await kubectl(['get', 'netpol'])).trim(), '');
  });

  it('a default-deny ingress policy on b (and g) blocks a and c', async () => {
    await kubectl(['apply', '-f', '-'], policy('b-deny', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Ingress'] }));
    assert.match(await kubectl(['get', 'netpol']), /NAME\s+POD-SELECTOR\s+AGE\nb-deny\s+app=b\s+\S+/);
    for (const t of TARGETS) {
      await expectReach('a', t, false);
      assert.equal(await reaches('c', t), false);
      // the target's own outbound is untouched (Ingress only), and a, unselected, still takes connections
      assert.equal(await reaches(t, 'a'), true);
    }
    assert.match((await nftTable()) ?? '', new RegExp(`ip daddr ${ip.b!.replace(/\./g, '\\.')} jump ing-default-b`));
    // by ClusterIP too, whichever endpoint a connection is sent to
    await blockedViaService('a', 'b');
  });

  it('an allow rule from role=client to port 80 lets a in and keeps c out', async () => {
    await kubectl(['apply', '-f', '-'], policy('b-allow-clients', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 80 }] }] }));
    for (const t of TARGETS) {
      await expectReach('a', t, true);
      assert.equal(await reaches('c', t), false);
    }
    assert.ok(TARGETS.includes((await viaService('a', 'b')) ?? ''));
    await blockedViaService('c', 'b');
  });

  it('an egress deny blocks b\'s outbound connections, while allowed ingress keeps working', async () => {
    await kubectl(['apply', '-f', '-'], policy('b-no-egress', { podSelector: { matchLabels: { app: 'b' } }, policyTypes: ['Egress'] }));
    for (const t of TARGETS) {
      await expectReach(t, 'a', false);
      assert.equal(await reaches(t, 'c'), false);
      assert.equal(await reaches('a', t), true);
      // a runc b's connect() to to-a is rewritten to a's address before the policy sees it; g's is DNATed
      await blockedViaService(t, 'a', 2);
    }
  });

  it('deleting the policies restores all traffic', async () => {
    await kubectl(['delete', 'netpol', 'b-deny', 'b-allow-clients', 'b-no-egress']);
    for (const t of TARGETS) {
      await expectReach('c', t, true);
      await expectReach(t, 'a', true);
    }
    assert.ok(TARGETS.includes((await viaService('c', 'b')) ?? ''));
    assert.doesNotMatch((await nftTable()) ?? '', /jump/);
  });
});
