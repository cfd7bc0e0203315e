/** Real CNI plugins from /usr/lib/cni, as root. Every name and subnet is unique to the run. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import type { NetworkModeConfig } from './cni-config.ts';
import { CniNetworkPlugin } from './cni-plugin.ts';
import { listNetns, netnsExists } from './netns.ts';
import { ensureNodeMasq, nodeMasqChain } from './node-masq.ts';
import { runChecked } from '../host/run-command.ts';
import { createVethPair, deleteLink, inNetns, linkExists, randomSubnet, randomSuffix, runLinks } from './test-helpers.ts';
import type { NetworkSandbox } from './types.ts';

const signal = new AbortController().signal;

interface Env {
  /** run at the end, newest first, before the leak check */
  defer(fn: () => Promise<unknown>): void;
  dataDir: string;
  netnsDir: string;
  run: string;
  sandbox(name: string, ports?: NetworkSandbox['portMappings']): NetworkSandbox;
  plugin(mode: NetworkModeConfig): CniNetworkPlugin;
}

/** Temp data dir + namespace dir, and a leak check of host links and namespaces at the end. */
async function setup(t: TestContext): Promise<Env> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-net-'));
  const netnsDir = `/run/hedge/test-${run}`;
  const linksBefore = await runLinks(run);
  const deferred: (() => Promise<unknown>)[] = [];
  const made: [CniNetworkPlugin, NetworkSandbox[]][] = [];
  t.after(async () => {
    // a failed test still tears down what it made, so the leak check below reports only real leaks
    for (const [plugin, sandboxes] of made) {
      for (const sb of sandboxes) await plugin.tearDown(sb, signal).catch(() => {});
    }
    for (const fn of deferred.reverse()) await fn().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    assert.deepEqual(await listNetns(netnsDir), [], 'namespaces leaked');
    await rm(netnsDir, { recursive: true, force: true });
    const leaked = [...(await runLinks(run))].filter((l) => !linksBefore.has(l));
    assert.deepEqual(leaked, [], 'host links leaked');
  });
  const sandboxes: NetworkSandbox[] = [];
  return {
    defer: (fn) => deferred.push(fn),
    dataDir,
    netnsDir,
    run,
    sandbox: (name, ports = []) => {
      const sb: NetworkSandbox = {
        id: `${run}-${name}`,
        pod: { uid: `uid-${run}-${name}`, namespace: 'default', name },
        netnsPath: `${netnsDir}/${name}`,
        portMappings: ports,
      };
      sandboxes.push(sb);
      return sb;
    },
    plugin: (mode) => {
      const plugin = new CniNetworkPlugin({ mode, dataDir, netnsDir });
      made.push([plugin, sandboxes]);
      return plugin;
    },
  };
}

async function ping(netns: string, ip: string): Promise<boolean> {
  return (await inNetns(netns, ['busybox', 'ping', '-c1', '-W1', ip])).code === 0;
}

/** A TCP echo server on :port inside the namespace, as a node child process. */
async function echoServer(t: TestContext, netns: string, port: number): Promise<ChildProcess> {
  const script = `require('net').createServer(s => s.pipe(s)).listen(${port}, '0.0.0.0', () => console.log('ready'))`;
  const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.match(chunk.toString(), /ready/);
  return child;
}

async function echo(host: string, port: number): Promise<string> {
  const sock = connect({ host, port });
  await once(sock, 'connect');
  sock.end('ping');
  const parts: Buffer[] = [];
  for await (const b of sock) parts.push(b as Buffer);
  return Buffer.concat(parts).toString();
}

async function ipamFiles(dataDir: string): Promise<string[]> {
  try {
    const nets = await readdir(join(dataDir, 'cni', 'ipam'));
    const out: string[] = [];
    for (const n of nets) for (const f of await readdir(join(dataDir, 'cni', 'ipam', n))) if (/^\d/.test(f)) out.push(f);
    return out;
  } catch {
    return [];
  }
}

test('bridge: two pods, connectivity, hostPort, restart-safe idempotent teardown', async (t) => {
  const env = await setup(t);
  const bridge = `hedget${env.run}`;
  const { subnet, prefix } = randomSubnet();
  env.defer(() => deleteLink(bridge));
  const plugin = env.plugin({ type: 'bridge', bridge, subnet });
  const conflist = await plugin.writeConfig();
  assert.ok(conflist.startsWith(env.dataDir));
  const hostPort = 30_000 + Math.floor(Math.random() * 20_000);
  const a = env.sandbox('a', [{ hostPort, containerPort: 8080, protocol: 'tcp', hostIP: `${prefix}.1` }]);
  const b = env.sandbox('b');

  const ra = await plugin.setUp(a, signal);
  const rb = await plugin.setUp(b, signal);
  const ipA = ra.ips[0].address;
  const ipB = rb.ips[0].address;
  assert.notEqual(ipA, ipB);
  for (const r of [ra, rb]) {
    assert.equal(r.ips[0].family, 4);
    assert.ok(r.ips[0].address.startsWith(`${prefix}.`), r.ips[0].address);
    assert.equal(r.ips[0].prefixLength, 24);
    assert.equal(r.ips[0].gateway, `${prefix}.1`);
    assert.equal(r.ips[0].interface, 'eth0');
    assert.match(r.hostInterface ?? '', /^veth/);
    assert.equal(await linkExists(r.hostInterface!), true);
  }
  assert.deepEqual(await plugin.setUp(a, signal), ra, 'setUp again returns the same attachment');
  // masquerading is one node-wide rule for the subnet, not a chain per pod (node-masq.ts)
  const post = await runChecked('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING']);
  assert.match(post.stdout, new RegExp(`-s ${subnet.replace(/\./g, '\\.')} .*hedge masq bridge=${bridge}.* -j ${nodeMasqChain({ bridge })}`));
  assert.doesNotMatch(post.stdout, new RegExp(`${a.id}|${b.id}`), 'no per-pod masquerade jump');
  const chain = await runChecked('iptables', ['-w', '-t', 'nat', '-S', nodeMasqChain({ bridge })]);
  assert.match(chain.stdout, /! -d 224\.0\.0\.0\/4 -j MASQUERADE/);

  assert.equal(await ping(a.netnsPath, ipB), true, 'pod a → pod b');
  assert.equal(await ping(b.netnsPath, ipA), true, 'pod b → pod a');
  assert.equal(await ping(a.netnsPath, `${prefix}.1`), true, 'pod → bridge gateway');

  await echoServer(t, a.netnsPath, 8080);
  assert.equal(await echo(ipA, 8080), 'ping', 'host → pod IP');
  assert.equal(await echo(`${prefix}.1`, hostPort), 'ping', 'host → hostPort on the bridge IP (portmap)');

  assert.deepEqual(await plugin.status(a, signal, { check: true }), ra);
  assert.equal((await ipamFiles(env.dataDir)).length, 2);

  // a new instance stands in for a restarted agent: DEL comes from the on-disk cache
  const restarted = env.plugin({ type: 'bridge', bridge, subnet });
  await restarted.tearDown(a, signal);
  assert.equal(await linkExists(ra.hostInterface!), false, 'veth removed');
  assert.equal(await netnsExists(a.netnsPath), false);
  assert.equal(existsSync(a.netnsPath), false);
  assert.deepEqual(await ipamFiles(env.dataDir), [ipB], 'ip of a released');
  assert.equal(await restarted.status(a, signal), undefined);
  await restarted.tearDown(a, signal);
  const nat = await runChecked('iptables-save', ['-t', 'nat']);
  assert.doesNotMatch(nat.stdout, new RegExp(`${a.id}|dport ${hostPort}`), 'portmap/masquerade rules of a removed');

  await assert.rejects(restarted.destroy(), (e: unknown) => isHedgeError(e, 'Conflict'));
  await restarted.tearDown(b, signal);
  assert.deepEqual(await ipamFiles(env.dataDir), []);
  await restarted.destroy();
  assert.equal(await linkExists(bridge), false);
  const natAfter = await runChecked('iptables-save', ['-t', 'nat']);
  assert.doesNotMatch(natAfter.stdout, new RegExp(env.run));
});

test('bridge: setUp after the namespace vanished redoes the attachment and frees the old IP', async (t) => {
  const env = await setup(t);
  const bridge = `hedget${env.run}`;
  env.defer(() => deleteLink(bridge));
  const plugin = env.plugin({ type: 'bridge', bridge, subnet: randomSubnet().subnet, portMap: false });
  const a = env.sandbox('a');
  const first = await plugin.setUp(a, signal);
  await runChecked('umount', [a.netnsPath]);
  assert.equal(await plugin.status(a, signal), undefined);
  const second = await plugin.setUp(a, signal);
  assert.equal(await netnsExists(a.netnsPath), true);
  assert.equal((await ipamFiles(env.dataDir)).length, 1, 'one lease, the first one released');
  assert.ok(second.ips[0].address);
  assert.equal(await linkExists(first.hostInterface!), false);
  await plugin.tearDown(a, signal);
  await plugin.destroy();
});

test('bridge: parallel setUps get distinct IPs; CHECK notices a broken attachment', async (t) => {
  const env = await setup(t);
  const bridge = `hedget${env.run}`;
  env.defer(() => deleteLink(bridge));
  const plugin = env.plugin({ type: 'bridge', bridge, subnet: randomSubnet().subnet });
  const sandboxes = ['p0', 'p1', 'p2', 'p3'].map((n) => env.sandbox(n));
  const results = await Promise.all(sandboxes.map((sb) => plugin.setUp(sb, signal)));
  assert.equal(new Set(results.map((r) => r.ips[0].address)).size, 4);
  assert.ok(await plugin.status(sandboxes[0], signal, { check: true }));
  await inNetns(sandboxes[0].netnsPath, ['ip', 'link', 'del', 'eth0']);
  await assert.rejects(plugin.status(sandboxes[0], signal, { check: true }), (e: unknown) => {
    assert.ok(isHedgeError(e), String(e));
    assert.match(e.message, /CNI plugin bridge CHECK failed/);
    return true;
  });
  await Promise.all(sandboxes.map((sb) => plugin.tearDown(sb, signal)));
  assert.deepEqual(await ipamFiles(env.dataDir), []);
  await plugin.destroy();
});

test('macvlan: pods on a test-owned parent reach each other', async (t) => {
  const env = await setup(t);
  const parent = `hedgm${env.run}a`;
  await createVethPair(parent, `hedgm${env.run}b`);
  env.defer(() => deleteLink(parent));
  const { subnet, prefix } = randomSubnet();
  const plugin = env.plugin({ type: 'macvlan', master: parent, subnet });
  const a = env.sandbox('a');
  const b = env.sandbox('b');
  const ra = await plugin.setUp(a, signal);
  const rb = await plugin.setUp(b, signal);
  assert.ok(ra.ips[0].address.startsWith(`${prefix}.`));
  assert.equal(ra.hostInterface, undefined);
  assert.equal(await ping(a.netnsPath, rb.ips[0].address), true);
  await plugin.tearDown(a, signal);
  await plugin.tearDown(b, signal);
  await plugin.tearDown(b, signal);
  assert.deepEqual(await ipamFiles(env.dataDir), []);
});

test('passthrough: host-device moves test-owned interfaces in and back out', async (t) => {
  const env = await setup(t);
  const [devA, devB] = [`hedgp${env.run}a`, `hedgp${env.run}b`];
  await createVethPair(devA, devB);
  env.defer(() => deleteLink(devA));
  const { subnet, prefix } = randomSubnet();
  const plugin = env.plugin({ type: 'passthrough', devices: [devA, devB], subnet });
  const a = env.sandbox('a');
  const b = env.sandbox('b');
  const ra = await plugin.setUp(a, signal);
  const rb = await plugin.setUp(b, signal);
  assert.equal(await linkExists(devA), false, 'moved out of the host');
  assert.equal(await linkExists('eth0', a.netnsPath), true);
  assert.ok(rb.ips[0].address.startsWith(`${prefix}.`));
  assert.equal(await ping(a.netnsPath, rb.ips[0].address), true);
  await assert.rejects(plugin.setUp(env.sandbox('c'), signal), (e: unknown) => isHedgeError(e, 'Unavailable'));
  assert.equal(await netnsExists(env.sandbox('c').netnsPath), false, 'failed setUp leaves no namespace');
  assert.ok(ra.ips[0].address);
  await plugin.tearDown(a, signal);
  assert.equal(await linkExists(devA), true, 'returned to the host under its own name');
  await plugin.tearDown(b, signal);
  await plugin.tearDown(b, signal);
  assert.equal(await linkExists(devB), true);
});

test('errors: bad config is Invalid; a plugin failure carries the plugin message and leaks nothing', async (t) => {
  const env = await setup(t);
  assert.throws(
    () => env.plugin({ type: 'bridge', subnet: '10.1.2.0/40' }),
    (e: unknown) => isHedgeError(e, 'Invalid') && e.details.causes?.[0].field === 'mode.subnet',
  );
  const plugin = env.plugin({ type: 'macvlan', master: `hedgx${env.run}`, subnet: randomSubnet().subnet });
  const a = env.sandbox('a');
  await assert.rejects(plugin.setUp(a, signal), (e: unknown) => {
    assert.ok(isHedgeError(e), String(e));
    assert.match(e.message, /CNI plugin macvlan ADD failed/);
    assert.match(e.message, /Link not found/);
    return true;
  });
  assert.equal(await netnsExists(a.netnsPath), false);
  assert.deepEqual(await ipamFiles(env.dataDir), []);
  const aborted = AbortSignal.abort(new Error('stop'));
  await assert.rejects(env.plugin({ type: 'bridge', bridge: `hedget${env.run}` }).setUp(env.sandbox('b'), aborted), /stop/);
  assert.equal(await netnsExists(env.sandbox('b').netnsPath), false);
});

test('bridge: masquerade rules of a bridge that no longer exists are swept; destroy removes our own', async (t) => {
  const env = await setup(t);
  const bridge = `hedget${env.run}`;
  const goneBridge = `hedgeg${env.run}`;
  const { subnet } = randomSubnet();
  env.defer(() => deleteLink(bridge));
  await ensureNodeMasq({ bridge: goneBridge, subnet: randomSubnet().subnet });
  const plugin = env.plugin({ type: 'bridge', bridge, subnet, portMap: false });
  const a = env.sandbox('a');
  await plugin.setUp(a, signal);
  const nat = await runChecked('iptables-save', ['-t', 'nat']);
  assert.doesNotMatch(nat.stdout, new RegExp(`${goneBridge}|${nodeMasqChain({ bridge: goneBridge })}`), 'stale rules swept');
  assert.match(nat.stdout, new RegExp(nodeMasqChain({ bridge })));
  await plugin.tearDown(a, signal);
  await plugin.destroy();
  const after = await runChecked('iptables-save', ['-t', 'nat']);
  assert.doesNotMatch(after.stdout, new RegExp(`${bridge}|${nodeMasqChain({ bridge })}`));
});
