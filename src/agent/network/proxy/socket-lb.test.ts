import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../lib/log.ts';
import { runCommand } from '../../host/run-command.ts';
import { createNetns, removeNetns } from '../netns.ts';
import { randomSuffix } from '../test-helpers.ts';
import type { ProxyServicePort } from './model.ts';
import { cgroup2Mount, renderSocketLbBatch, SOCKET_LB_MAX_ENDPOINTS, SocketBalancer, socketLbEntries, socketLbSkip } from './socket-lb.ts';

const port = (p: Partial<ProxyServicePort> & Pick<ProxyServicePort, 'clusterIP' | 'endpoints'>): ProxyServicePort => ({ id: 'default/x/tcp/80', protocol: 'tcp', port: 80, ...p });
const zeros = (n: number): string => new Array<string>(n).fill('00').join(' ');

test('map entries: key ip . port . proto, value count . endpoints (network order) padded to MAX_EP; what keeps the nftables path is left out', () => {
  const many = Array.from({ length: SOCKET_LB_MAX_ENDPOINTS + 1 }, (_, i) => ({ ip: `10.244.1.${i + 1}`, port: 8080 }));
  const ports: ProxyServicePort[] = [
    // endpoints sorted in the value: the same set renders the same bytes whatever order the slices had
    port({ clusterIP: '10.96.0.20', endpoints: [{ ip: '10.244.1.7', port: 8080 }, { ip: '10.244.0.5', port: 8080 }] }),
    port({ id: 'kube-system/dns/udp/dns', clusterIP: '10.96.0.10', protocol: 'udp', port: 53, endpoints: [{ ip: '10.244.0.2', port: 5353 }] }),
    port({ clusterIP: '10.96.0.21', affinitySeconds: 60, endpoints: [{ ip: '10.244.0.5', port: 8080 }] }),
    port({ clusterIP: '10.96.0.22', protocol: 'sctp', endpoints: [{ ip: '10.244.0.5', port: 8080 }] }),
    port({ clusterIP: '10.96.0.23', endpoints: [] }),
    port({ clusterIP: '10.96.0.24', endpoints: many }),
    port({ clusterIP: '10.96.0.25', endpoints: [{ ip: '127.0.0.1', port: 6443 }] }),
  ];
  assert.deepEqual(
    ports.map((p) => socketLbSkip(p)),
    [undefined, undefined, 'sessionAffinity ClientIP', 'sctp', 'no endpoints (nftables rejects)', `more than ${SOCKET_LB_MAX_ENDPOINTS} endpoints`, 'a loopback endpoint'],
  );
  const m = socketLbEntries(ports, 4);
  assert.deepEqual([...m.keys()], ['0a 60 00 14 00 50 06 00', '0a 60 00 0a 00 35 11 00']);
  // count 2 (little-endian u32 on this host), pad, then 10.244.0.5:8080 before 10.244.1.7:8080
  assert.equal(m.get('0a 60 00 14 00 50 06 00'), `02 00 00 00 00 00 00 00 0a f4 00 05 1f 90 00 00 0a f4 01 07 1f 90 00 00 ${zeros((SOCKET_LB_MAX_ENDPOINTS - 2) * 8)}`);
  assert.equal(m.get('0a 60 00 0a 00 35 11 00'), `01 00 00 00 00 00 00 00 0a f4 00 02 14 e9 00 00 ${zeros((SOCKET_LB_MAX_ENDPOINTS - 1) * 8)}`);
  const reordered = socketLbEntries([port({ clusterIP: '10.96.0.20', endpoints: [{ ip: '10.244.0.5', port: 8080 }, { ip: '10.244.1.7', port: 8080 }] })], 4);
  assert.equal(reordered.get('0a 60 00 14 00 50 06 00'), m.get('0a 60 00 14 00 50 06 00'));
});

test('map entries, IPv6: 16-byte addresses, 20-byte endpoint slots; a family mismatch is refused', () => {
  const m = socketLbEntries([port({ clusterIP: 'fd00:96::a', protocol: 'udp', port: 53, endpoints: [{ ip: 'fd00:244::2', port: 53 }] })], 6);
  assert.deepEqual([...m.keys()], ['fd 00 00 96 00 00 00 00 00 00 00 00 00 00 00 0a 00 35 11 00']);
  assert.equal([...m.values()][0], `01 00 00 00 00 00 00 00 fd 00 02 44 00 00 00 00 00 00 00 00 00 00 00 02 00 35 00 00 ${zeros((SOCKET_LB_MAX_ENDPOINTS - 1) * 20)}`);
  assert.throws(() => socketLbEntries([port({ clusterIP: '10.96.0.1', endpoints: [{ ip: '10.244.0.2', port: 80 }] })], 6), /no IPv6 address/);
});

test('the batch: deletes of keys gone, updates of keys new or changed, nothing when nothing changed', () => {
  const a = { v4: new Map([['k1', 'v1'], ['k2', 'v2']]), v6: new Map([['k6', 'v6']]) };
  const b = { v4: new Map([['k1', 'v1'], ['k2', 'v2b'], ['k3', 'v3']]), v6: new Map<string, string>() };
  assert.equal(renderSocketLbBatch('/sys/fs/bpf/hedge-n', a, a), '');
  assert.equal(
    renderSocketLbBatch('/sys/fs/bpf/hedge-n', b, a),
    [
      'map update pinned /sys/fs/bpf/hedge-n/maps/svc4 key hex k2 value hex v2b',
      'map update pinned /sys/fs/bpf/hedge-n/maps/svc4 key hex k3 value hex v3',
      'map delete pinned /sys/fs/bpf/hedge-n/maps/svc6 key hex k6',
      '',
    ].join('\n'),
  );
});

const cg2 = await cgroup2Mount();
const tools = (await Promise.all(['bpftool', 'clang'].map(async (b) => (await runCommand(b, ['--version']).catch(() => ({ code: 1 }))).code === 0))).every(Boolean);
const skip = process.getuid?.() !== 0 ? 'needs root (BPF)' : !cg2 ? 'no cgroup2 hierarchy' : !tools ? 'no bpftool/clang (scripts/setup.sh)' : !existsSync('/usr/bin/nsenter') ? 'no nsenter' : undefined;

/** a child in `ns` (and in `cgroup` when given) that serves TCP and UDP on 10.97.0.1 (on its lo) and dials the ClusterIP */
const probe = `
const net = require('node:net'), dgram = require('node:dgram');
const [tcpPort, udpPort] = [Number(process.argv[1]), Number(process.argv[2])];
for (const host of ['10.97.0.1', 'fd00:97::1']) {
  net.createServer((c) => c.end('tcp:' + c.localPort)).listen(tcpPort, host);
  const udp = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4').bind(udpPort, host);
  udp.on('message', (m, r) => udp.send('udp:' + udpPort, r.port, r.address));
}
const out = {};
const done = () => { console.log(JSON.stringify(out)); process.exit(0); };
setTimeout(done, 3000);
const tcp = (key, host) => new Promise((res) => { const c = net.connect(80, host); let d = ''; c.on('data', (x) => d += x); c.on('end', () => { out[key] = d; res(); }); c.on('error', (e) => { out[key] = e.code; res(); }); });
const udp = (key, type, host) => new Promise((res) => { const u = dgram.createSocket(type); u.on('message', (m, r) => { out[key] = String(m); out[key + 'From'] = r.address + ':' + r.port; u.close(); res(); }); u.on('error', (e) => { out[key] = e.code; res(); }); u.send('hi', 53, host); });
setTimeout(() => Promise.all([
  tcp('tcp', '10.96.200.1'), udp('udp', 'udp4', '10.96.200.1'),
  // an IPv4 peer of an IPv6 socket (::ffff:a.b.c.d) takes the IPv4 map
  tcp('tcpMapped', '::ffff:10.96.200.1'),
  tcp('tcp6', 'fd00:96::1'), udp('udp6', 'udp6', 'fd00:96::1'),
]).then(done), 200);
`;

test('the balancer for real (IPv4, IPv6, v4-mapped): a pod-cgroup socket reaches the endpoint, a UDP reply comes from the ClusterIP, outside the cgroup nothing changes, close leaves nothing', { skip }, async () => {
  const run = randomSuffix();
  const ns = `/run/hedge/socklb-test-${run}`;
  const cgroup = join(cg2!, `hedge-socklb-test-${run}`);
  const cacheDir = await mkdtemp(join(tmpdir(), 'hedge-socklb-'));
  const lb = new SocketBalancer({ name: `socklb-test-${run}`, cgroup, cacheDir, logger: silentLogger() });
  await createNetns(ns);
  try {
    await runCommand('nsenter', [`--net=${ns}`, 'ip', 'link', 'set', 'lo', 'up']);
    await runCommand('nsenter', [`--net=${ns}`, 'ip', 'addr', 'add', '10.97.0.1/32', 'dev', 'lo']);
    await runCommand('nsenter', [`--net=${ns}`, 'ip', '-6', 'addr', 'add', 'fd00:97::1/128', 'dev', 'lo', 'nodad']);
    await lb.start();
    const ports = (tcp: number, udp: number): ProxyServicePort[] => [
      port({ clusterIP: '10.96.200.1', endpoints: [{ ip: '10.97.0.1', port: tcp }] }),
      port({ id: 'default/x/udp/53', clusterIP: '10.96.200.1', protocol: 'udp', port: 53, endpoints: [{ ip: '10.97.0.1', port: udp }] }),
    ];
    const ports6 = (tcp: number, udp: number): ProxyServicePort[] => [
      port({ clusterIP: 'fd00:96::1', endpoints: [{ ip: 'fd00:97::1', port: tcp }] }),
      port({ id: 'default/x/udp/53', clusterIP: 'fd00:96::1', protocol: 'udp', port: 53, endpoints: [{ ip: 'fd00:97::1', port: udp }] }),
    ];
    const all = (tcp: number, udp: number): Record<string, string> => ({
      tcp: `tcp:${tcp}`, udp: `udp:${udp}`, udpFrom: '10.96.200.1:53', tcpMapped: `tcp:${tcp}`, tcp6: `tcp:${tcp}`, udp6: `udp:${udp}`, udp6From: 'fd00:96::1:53',
    });
    assert.equal(await lb.sync(ports(9101, 9102), ports6(9101, 9102)), 4);
    const dial = async (inCgroup: boolean, tcp: number, udp: number): Promise<Record<string, string>> => {
      const join = inCgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : '';
      const r = await runCommand('sh', ['-c', `${join}exec nsenter --net=${ns} "$0" -e "$1" ${tcp} ${udp}`, process.execPath, probe], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, string>;
    };
    assert.deepEqual(await dial(true, 9101, 9102), all(9101, 9102));
    // not in the node's cgroup: the ClusterIP is dialled as is (no route in this netns)
    const outside = await dial(false, 9101, 9102);
    assert.notEqual(outside.tcp, 'tcp:9101');
    assert.notEqual(outside.tcp6, 'tcp:9101');
    // an endpoint change is one batch; the next connection takes the new endpoint
    assert.equal(await lb.sync(ports(9201, 9202), ports6(9201, 9202)), 4);
    assert.deepEqual(await dial(true, 9201, 9202), all(9201, 9202));
    // the Service gone: its key is deleted, the ClusterIP is dialled as is again
    await lb.sync([], []);
    const gone = await dial(true, 9201, 9202);
    assert.notEqual(gone.tcp, 'tcp:9201');
    assert.notEqual(gone.tcp6, 'tcp:9201');
  } finally {
    await lb.close();
    await removeNetns(ns);
    await rm(cacheDir, { recursive: true, force: true });
  }
  assert.equal(existsSync(lb.pinDir), false, 'pins left behind');
  assert.equal(existsSync(cgroup), false, 'the cgroup2 directory is removed when empty');
  await rmdir(cgroup).catch(() => undefined);
  assert.deepEqual((await readdir('/sys/fs/bpf')).filter((n) => n.includes(run)), []);
});

test('a start cut short by its signal (the node stopped while the programs load) leaves no pins', { skip }, async () => {
  const run = randomSuffix();
  const cgroup = join(cg2!, `hedge-socklb-test-${run}`);
  const dir = await mkdtemp(join(tmpdir(), 'hedge-socklb-'));
  // bpftool as it is, but `prog loadall` takes its time after pinning: the abort lands then
  const bpftool = join(dir, 'bpftool');
  await writeFile(bpftool, `#!/bin/sh\n/usr/sbin/bpftool "$@"; rc=$?\n[ "$1" = prog ] && sleep 30\nexit $rc\n`, { mode: 0o755 });
  const lb = new SocketBalancer({ name: `socklb-test-${run}`, cgroup, cacheDir: join(dir, 'cache'), bpftool, logger: silentLogger() });
  const ac = new AbortController();
  try {
    const started = lb.start(ac.signal);
    const pinned = join(lb.pinDir, 'prog');
    for (let i = 0; i < 600 && (await readdir(pinned).catch(() => [])).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual((await readdir(pinned)).length, 0, 'the programs were pinned');
    ac.abort();
    await assert.rejects(started);
    assert.equal(existsSync(lb.pinDir), false, 'pins left behind');
  } finally {
    await lb.close();
    await rm(dir, { recursive: true, force: true });
    await rmdir(cgroup).catch(() => undefined);
  }
});
