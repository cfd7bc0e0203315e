/**
 * NetworkPlugin over CNI: the sandbox's namespace is made here when absent, then the mode's
 * conflist (bridge+portmap, macvlan or host-device) is run against it. Everything needed to
 * undo an attachment is in the on-disk result cache, so tearDown works after an agent restart
 * even when the configuration has changed since.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import { KeyedLock } from '../../lib/keyed-lock.ts';
import type { Logger } from '../../lib/log.ts';
import { buildConflist, validateNetworkConfig, type CniNetworkConfig } from './cni-config.ts';
import { CniRunner, podCniArgs, type CniCachedAttachment, type CniNetworkConfigList, type CniResult, type CniRuntimeConf } from './cni.ts';
import { sweepMasqRules } from './masq-sweep.ts';
import { createNetns, netnsExists, removeNetns } from './netns.ts';
import { ensureNodeMasq, removeNodeMasq, sweepStaleNodeMasq, type NodeMasq } from './node-masq.ts';
import { runCommand } from '../host/run-command.ts';
import type { NetworkPlugin, NetworkResult, NetworkSandbox } from './types.ts';

const DEFAULT_CNI_PATH = ['/usr/lib/cni', '/opt/cni/bin'];

export interface StatusOptions {
  /** also run CNI CHECK (throws the plugin's error when the attachment is broken) */
  check?: boolean;
}

export class CniNetworkPlugin implements NetworkPlugin {
  readonly name: string;
  private readonly cfg: CniNetworkConfig;
  private readonly runner: CniRunner;
  private readonly ifName: string;
  private readonly networkName: string;
  private readonly log: Logger | undefined;
  /** per-key tail of the operation queue; serialises work on one sandbox */
  private readonly locks = new KeyedLock();
  /** bridge mode with ipMasq: the node-wide masquerade rules (node-masq.ts), installed once per process */
  private readonly masq: NodeMasq | undefined;
  private masqReady: Promise<void> | undefined;

  constructor(cfg: CniNetworkConfig, log?: Logger) {
    validateNetworkConfig(cfg);
    this.cfg = cfg;
    this.name = `cni-${cfg.mode.type}`;
    this.ifName = cfg.ifName ?? 'eth0';
    this.networkName = cfg.networkName ?? 'hedge';
    this.log = log;
    const m = cfg.mode;
    if (m.type === 'bridge' && (m.ipMasq ?? true)) this.masq = { bridge: m.bridge ?? 'hedge0', subnet: m.subnet ?? '10.88.0.0/16', ...(m.ipv6Subnet ? { subnet6: m.ipv6Subnet } : {}), noMasq: m.noMasq };
    this.runner = new CniRunner({
      cniPath: cfg.cniPath ?? DEFAULT_CNI_PATH,
      cacheDir: join(cfg.dataDir, 'cni'),
      timeoutMs: cfg.timeoutMs,
      ...(cfg.spawner ? { spawner: cfg.spawner } : {}),
    });
  }

  /** Writes the conflist for this network into <dataDir>/cni/net.d (for humans and tools; we run from memory). */
  async writeConfig(): Promise<string> {
    const dir = join(this.cfg.dataDir, 'cni', 'net.d');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `10-${this.networkName}.conflist`);
    await writeFile(path, `${JSON.stringify(buildConflist(this.cfg), null, 2)}\n`);
    return path;
  }

  setUp(sandbox: NetworkSandbox, signal: AbortSignal): Promise<NetworkResult> {
    // host-device hands out a pool: picking a free device must not race another sandbox
    const key = this.cfg.mode.type === 'passthrough' ? '\0passthrough' : sandbox.id;
    return this.locks.run(key, () => this.doSetUp(sandbox, signal));
  }

  /** the netns alone (setUp then finds it and attaches it; tearDown removes it) */
  prepare(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    return this.locks.run(sandbox.id, () => createNetns(sandbox.netnsPath, { signal }));
  }

  tearDown(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    const key = this.cfg.mode.type === 'passthrough' ? '\0passthrough' : sandbox.id;
    return this.locks.run(key, () => this.doTearDown(sandbox, signal));
  }

  async status(sandbox: NetworkSandbox, signal: AbortSignal, opts: StatusOptions = {}): Promise<NetworkResult | undefined> {
    const cached = await this.runner.getCachedAttachment(this.networkName, sandbox.id, this.ifName);
    if (cached === undefined || !(await netnsExists(cached.netns))) return undefined;
    if (opts.check) {
      // portmap 1.1.x CHECK always looks for its ip6tables chain and fails on IPv4-only results
      const hasV6 = (cached.result.ips ?? []).some((ip) => ip.address.includes(':'));
      const list = hasV6 ? cached.config : { ...cached.config, plugins: cached.config.plugins.filter((p) => p.type !== 'portmap') };
      await this.runner.checkNetworkList(list, this.runtimeConf(sandbox, cached.netns, cached), signal);
    }
    return toNetworkResult(cached.result, cached.config);
  }

  /**
   * Removes what this network left on the host beyond single attachments: the bridge the
   * bridge plugin created (bridge mode), and the conflist file. Refuses while sandboxes are
   * still attached.
   */
  async destroy(signal?: AbortSignal): Promise<void> {
    const attached = (await this.runner.listCachedAttachments()).filter((a) => a.networkName === this.networkName);
    if (attached.length > 0) {
      throw new HedgeError('Conflict', `network ${this.networkName} still has ${attached.length} attached sandbox(es)`);
    }
    if (this.masq) await removeNodeMasq(this.masq, { signal });
    this.masqReady = undefined;
    if (this.cfg.mode.type === 'bridge') {
      const bridge = this.cfg.mode.bridge ?? 'hedge0';
      const res = await runCommand('ip', ['link', 'del', 'dev', bridge], { signal });
      if (res.code !== 0 && !/cannot find device|does not exist/i.test(res.stderr)) {
        throw new HedgeError('Internal', `cannot delete bridge ${bridge}: ${res.stderr.trim()}`);
      }
    }
    await rm(join(this.cfg.dataDir, 'cni', 'net.d', `10-${this.networkName}.conflist`), { force: true });
  }

  private async doSetUp(sandbox: NetworkSandbox, signal: AbortSignal): Promise<NetworkResult> {
    const cached = await this.runner.getCachedAttachment(this.networkName, sandbox.id, this.ifName);
    if (cached !== undefined) {
      if (cached.netns === sandbox.netnsPath && (await netnsExists(cached.netns))) {
        return toNetworkResult(cached.result, cached.config);
      }
      // an attachment whose namespace vanished (reboot, crash): release its IP before redoing it
      await this.del(cached.config, this.runtimeConf(sandbox, '', cached), signal);
    }
    const created = !(await netnsExists(sandbox.netnsPath));
    if (created) await createNetns(sandbox.netnsPath, { signal });
    try {
      const list = this.chainFor(sandbox, buildConflist(this.cfg, await this.pickDevice()));
      const rt = this.runtimeConf(sandbox, sandbox.netnsPath);
      try {
        const result = await this.runner.addNetworkList(list, rt, signal);
        // after the ADD: the bridge exists now, so no other agent's sweep can take the rules for stale
        await this.ensureMasq(signal);
        this.log?.debug({ sandbox: sandbox.id, ips: result.ips }, 'network attached');
        return toNetworkResult(result, list);
      } catch (err) {
        // the spec asks runtimes to DEL after a failed ADD so half-made state (IPs, veths, rules) goes away
        await this.del(list, rt).catch((e: unknown) => {
          this.log?.warn({ err: e, sandbox: sandbox.id }, 'cleanup DEL after failed ADD failed');
        });
        throw err;
      }
    } catch (err) {
      if (created) await removeNetns(sandbox.netnsPath).catch(() => {});
      throw err;
    }
  }

  private async doTearDown(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    const cached = await this.runner.getCachedAttachment(this.networkName, sandbox.id, this.ifName);
    const netnsPath = cached?.netns ?? sandbox.netnsPath;
    const alive = await netnsExists(netnsPath);
    // without a cached result host-device does not know which device to return; nothing of ours is attached then
    if (cached !== undefined || this.cfg.mode.type !== 'passthrough') {
      const list = cached?.config ?? buildConflist(this.cfg);
      await this.del(list, this.runtimeConf(sandbox, alive ? netnsPath : '', cached), signal);
    }
    await removeNetns(netnsPath, { signal });
    if (sandbox.netnsPath !== netnsPath) await removeNetns(sandbox.netnsPath, { signal });
  }

  /**
   * The conflist one sandbox runs (and caches, so its DEL runs the same): masquerading is done by
   * the node-wide rules rather than per pod, and portmap is left out when the pod maps no host
   * ports (with none its ADD and DEL do nothing but cost an exec each).
   */
  private chainFor(sandbox: NetworkSandbox, list: CniNetworkConfigList): CniNetworkConfigList {
    const plugins = list.plugins
      .filter((p) => p.type !== 'portmap' || sandbox.portMappings.length > 0)
      .map((p) => (p.type === 'bridge' && p.ipMasq === true ? { ...p, ipMasq: false } : p));
    return { ...list, plugins };
  }

  private ensureMasq(signal: AbortSignal): Promise<void> {
    const masq = this.masq;
    if (!masq) return Promise.resolve();
    this.masqReady ??= (async () => {
      await ensureNodeMasq(masq, { signal });
      // housekeeping only: a failed sweep must not fail the pod
      await sweepStaleNodeMasq(masq, async (b) => (await runCommand('ip', ['link', 'show', 'dev', b], { signal })).code === 0, { signal }).then(
        (swept) => swept.length > 0 && this.log?.info({ swept }, 'removed masquerade rules of bridges that no longer exist'),
        (err: unknown) => this.log?.warn({ err }, 'sweeping stale masquerade rules failed'),
      );
    })().catch((err: unknown) => {
      this.masqReady = undefined;
      throw err;
    });
    return this.masqReady;
  }

  private async del(list: CniNetworkConfigList, rt: CniRuntimeConf, signal?: AbortSignal): Promise<void> {
    await this.runner.delNetworkList(list, rt, signal);
    if (list.plugins.some((p) => p.type === 'bridge' && p.ipMasq === true)) {
      await sweepMasqRules(list.name, rt.containerId, { signal });
    }
  }

  private async pickDevice(): Promise<string | undefined> {
    const mode = this.cfg.mode;
    if (mode.type !== 'passthrough') return undefined;
    const inUse = new Set(
      (await this.runner.listCachedAttachments())
        .filter((a) => a.networkName === this.networkName)
        .map((a) => a.config.plugins[0]?.device),
    );
    const free = mode.devices.find((d) => !inUse.has(d));
    if (free === undefined) {
      throw new HedgeError('Unavailable', `all ${mode.devices.length} passthrough device(s) of ${this.networkName} are in use`);
    }
    return free;
  }

  private runtimeConf(sandbox: NetworkSandbox, netns: string, cached?: CniCachedAttachment): CniRuntimeConf {
    if (cached !== undefined) {
      return { containerId: sandbox.id, netns, ifName: cached.ifName, args: cached.cniArgs, capabilityArgs: cached.capabilityArgs };
    }
    return {
      containerId: sandbox.id,
      netns,
      ifName: this.ifName,
      args: podCniArgs(sandbox.id, sandbox.pod),
      capabilityArgs: {
        portMappings: sandbox.portMappings.map((p) => ({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol,
          ...(p.hostIP ? { hostIP: p.hostIP } : {}),
        })),
      },
    };
  }
}

/** CNI result → the seam's shape: bare addresses, interface names resolved, host veth picked out. */
export function toNetworkResult(result: CniResult, list: CniNetworkConfigList): NetworkResult {
  const interfaces = (result.interfaces ?? []).map((i) => ({ name: i.name, mac: i.mac, sandbox: i.sandbox || undefined }));
  const bridgeName = list.plugins.find((p) => p.type === 'bridge')?.bridge;
  const host = interfaces.find((i) => i.sandbox === undefined && i.name !== bridgeName);
  return {
    ips: (result.ips ?? []).map((ip) => {
      const [address, prefix] = ip.address.split('/');
      return {
        address,
        prefixLength: Number(prefix),
        family: address.includes(':') ? 6 : 4,
        gateway: ip.gateway,
        interface: ip.interface !== undefined ? (interfaces[ip.interface]?.name ?? '') : '',
      };
    }),
    hostInterface: list.plugins.some((p) => p.type === 'bridge') ? host?.name : undefined,
    interfaces,
  };
}
