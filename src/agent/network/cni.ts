/**
 * CNI 1.0.0 run by hand, the way libcni does it: one exec per plugin with the CNI_* env and
 * the network config on stdin; chained conflists pass each ADD result on as prevResult; DEL
 * runs the chain backwards and CHECK forwards, both with the cached ADD result as prevResult.
 * ADD results are cached on disk (cf. libcni's <cacheDir>/results) together with the exact
 * conflist and args used, so a restarted agent can still DEL what an earlier one added.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError, type ErrorCode } from '../../lib/errors.ts';
import { runCommand, type RunResult } from '../host/run-command.ts';
import { SPAWNER_MAX_INPUT, type Spawner } from '../host/spawner.ts';

export const CNI_VERSION = '1.0.0';

export type CniJson = string | number | boolean | null | CniJson[] | { [key: string]: CniJson };

/** One plugin entry of a conflist; `type` names the binary. */
export interface CniPluginConf {
  type: string;
  /** capabilities this plugin accepts through runtimeConfig, e.g. { portMappings: true } */
  capabilities?: Record<string, boolean>;
  [key: string]: CniJson | undefined;
}

export interface CniNetworkConfigList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  /** index into interfaces */
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** What identifies one attachment, plus the per-call inputs. */
export interface CniRuntimeConf {
  containerId: string;
  /** namespace path; empty for a DEL whose namespace is already gone */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. [['K8S_POD_NAMESPACE', 'default']] */
  args: [string, string][];
  /** capability name → value, handed to plugins that declare the capability (runtimeConfig) */
  capabilityArgs: Record<string, CniJson>;
}

/** CNI_ARGS every pod attachment carries: what the kubelet passes, so plugins and IPAM can name the pod. */
export function podCniArgs(containerId: string, pod: { namespace: string; name: string; uid: string }): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', containerId],
    ['K8S_POD_UID', pod.uid],
  ];
}

/** On-disk cache entry of one ADD. */
export interface CniCachedAttachment {
  kind: 'hedgeCniCacheV1';
  containerId: string;
  ifName: string;
  networkName: string;
  netns: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, CniJson>;
  config: CniNetworkConfigList;
  result: CniResult;
}

export interface CniOptions {
  /** directories searched for plugin binaries (CNI_PATH) */
  cniPath: string[];
  /** results are cached in <cacheDir>/results */
  cacheDir: string;
  /** per plugin exec; default 60 s */
  timeoutMs?: number;
  /** runs the plugins instead of the agent (host/spawner.ts: no fork of the agent per plugin) where it can */
  spawner?: Spawner;
}

type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** CNI error codes (spec "Error" section) mapped to our stable codes. */
function errorCodeFor(cniCode: number): ErrorCode {
  switch (cniCode) {
    case 1: // incompatible CNI version
    case 2: // unsupported field in network configuration
    case 4: // invalid necessary environment variables
    case 6: // failed to decode content
    case 7: // invalid network config
      return 'BadRequest';
    case 3: // container unknown or does not exist
      return 'NotFound';
    case 11: // try again later
      return 'Unavailable';
    default:
      return 'Internal';
  }
}

const SAFE_KEY = /[^A-Za-z0-9_.-]/g;

export class CniRunner {
  private readonly opts: Required<Omit<CniOptions, 'spawner'>> & Pick<CniOptions, 'spawner'>;

  constructor(opts: CniOptions) {
    this.opts = { timeoutMs: 60_000, ...opts };
  }

  /** a plugin run with exactly `env` (the CNI protocol's variables) and its config on stdin */
  private run(bin: string, env: Record<string, string>, input: string, signal: AbortSignal | undefined): Promise<RunResult> {
    const spawner = this.opts.spawner;
    if (spawner?.available && Buffer.byteLength(input) <= SPAWNER_MAX_INPUT) {
      return spawner.run(bin, [], { env, replaceEnv: true, input, timeoutMs: this.opts.timeoutMs, signal });
    }
    return runCommand(bin, [], { env, input, timeoutMs: this.opts.timeoutMs, signal });
  }

  /** ADD through the whole chain; caches and returns the final result. */
  async addNetworkList(list: CniNetworkConfigList, rt: CniRuntimeConf, signal?: AbortSignal): Promise<CniResult> {
    let prev: CniResult | undefined;
    for (const plugin of list.plugins) {
      const out = await this.exec('ADD', list, plugin, rt, prev, signal);
      if (out === undefined) throw new HedgeError('Internal', `CNI plugin ${plugin.type} ADD returned no result`);
      prev = out;
    }
    if (prev === undefined) throw new HedgeError('BadRequest', `CNI network ${list.name} has no plugins`);
    await this.writeCache({
      kind: 'hedgeCniCacheV1',
      containerId: rt.containerId,
      ifName: rt.ifName,
      networkName: list.name,
      netns: rt.netns,
      cniArgs: rt.args,
      capabilityArgs: rt.capabilityArgs,
      config: list,
      result: prev,
    });
    return prev;
  }

  /**
   * DEL through the chain in reverse with the cached result as prevResult, then drops the
   * cache entry. Plugins treat missing resources as success, so this is safe to repeat.
   */
  async delNetworkList(list: CniNetworkConfigList, rt: CniRuntimeConf, signal?: AbortSignal): Promise<void> {
    const cached = await this.getCachedAttachment(list.name, rt.containerId, rt.ifName);
    for (const plugin of [...list.plugins].reverse()) {
      await this.exec('DEL', list, plugin, rt, cached?.result, signal);
    }
    await rm(this.cachePath(list.name, rt.containerId, rt.ifName), { force: true });
  }

  /** CHECK through the chain; throws the first plugin's error. Needs a cached ADD result. */
  async checkNetworkList(list: CniNetworkConfigList, rt: CniRuntimeConf, signal?: AbortSignal): Promise<void> {
    if (list.disableCheck) return;
    const cached = await this.getCachedAttachment(list.name, rt.containerId, rt.ifName);
    if (cached === undefined) {
      throw new HedgeError('NotFound', `no cached CNI result for ${list.name}/${rt.containerId}/${rt.ifName}`);
    }
    for (const plugin of list.plugins) await this.exec('CHECK', list, plugin, rt, cached.result, signal);
  }

  /** The plugin's VERSION answer ({cniVersion, supportedVersions}). */
  async version(type: string, signal?: AbortSignal): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    const bin = await this.findPlugin(type);
    const res = await this.run(bin, { ...(process.env.PATH === undefined ? {} : { PATH: process.env.PATH }), CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: CNI_VERSION }), signal);
    if (res.code !== 0) throw this.pluginError(type, 'VERSION', res.stdout, res.stderr, res.code);
    return JSON.parse(res.stdout) as { cniVersion: string; supportedVersions: string[] };
  }

  async getCachedAttachment(networkName: string, containerId: string, ifName: string): Promise<CniCachedAttachment | undefined> {
    let text: string;
    try {
      text = await readFile(this.cachePath(networkName, containerId, ifName), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const parsed = JSON.parse(text) as CniCachedAttachment;
    return parsed.kind === 'hedgeCniCacheV1' ? parsed : undefined;
  }

  /** All cached attachments (e.g. to find leftovers after a crash). */
  async listCachedAttachments(): Promise<CniCachedAttachment[]> {
    let names: string[];
    try {
      names = await readdir(join(this.opts.cacheDir, 'results'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: CniCachedAttachment[] = [];
    for (const n of names.filter((x) => !x.endsWith('.tmp'))) {
      try {
        const parsed = JSON.parse(await readFile(join(this.opts.cacheDir, 'results', n), 'utf8')) as CniCachedAttachment;
        if (parsed.kind === 'hedgeCniCacheV1') out.push(parsed);
      } catch {
        // a torn or foreign file is not ours to interpret
      }
    }
    return out;
  }

  private cachePath(networkName: string, containerId: string, ifName: string): string {
    const key = [networkName, containerId, ifName].map((s) => s.replace(SAFE_KEY, '_')).join('-');
    return join(this.opts.cacheDir, 'results', key);
  }

  private async writeCache(entry: CniCachedAttachment): Promise<void> {
    const path = this.cachePath(entry.networkName, entry.containerId, entry.ifName);
    await mkdir(join(this.opts.cacheDir, 'results'), { recursive: true, mode: 0o700 });
    await writeFile(`${path}.tmp`, JSON.stringify(entry), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }

  private async findPlugin(type: string): Promise<string> {
    if (type.includes('/')) throw new HedgeError('BadRequest', `invalid CNI plugin type "${type}"`);
    for (const dir of this.opts.cniPath) {
      const candidate = join(dir, type);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // try the next directory
      }
    }
    throw new HedgeError('BadRequest', `CNI plugin "${type}" not found in ${this.opts.cniPath.join(':')}`);
  }

  /** The stdin config of one plugin: its entry plus name, cniVersion, runtimeConfig and prevResult. */
  private pluginConfig(list: CniNetworkConfigList, plugin: CniPluginConf, rt: CniRuntimeConf, prev?: CniResult): string {
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    const runtimeConfig: Record<string, CniJson> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
      if (on && rt.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
    if (prev !== undefined) conf.prevResult = prev;
    return JSON.stringify(conf);
  }

  private async exec(
    command: Command,
    list: CniNetworkConfigList,
    plugin: CniPluginConf,
    rt: CniRuntimeConf,
    prev: CniResult | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CniResult | undefined> {
    const bin = await this.findPlugin(plugin.type);
    const env: Record<string, string> = {
      // plugins shell out to iptables/ip; keep sbin reachable whatever our own PATH is
      PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`,
      CNI_COMMAND: command,
      CNI_CONTAINERID: rt.containerId,
      CNI_NETNS: rt.netns,
      CNI_IFNAME: rt.ifName,
      CNI_ARGS: rt.args.map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.opts.cniPath.join(':'),
    };
    const res = await this.run(bin, env, this.pluginConfig(list, plugin, rt, prev), signal);
    if (res.code !== 0) throw this.pluginError(plugin.type, command, res.stdout, res.stderr, res.code);
    if (command !== 'ADD') return undefined;
    try {
      return JSON.parse(res.stdout) as CniResult;
    } catch (e) {
      throw new HedgeError('Internal', `CNI plugin ${plugin.type} ADD printed an unparsable result: ${res.stdout.slice(0, 200)}`, {
        cause: e,
      });
    }
  }

  private pluginError(type: string, command: Command, stdout: string, stderr: string, exit: number): HedgeError {
    let parsed: { code?: number; msg?: string; details?: string } | undefined;
    try {
      parsed = JSON.parse(stdout) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    if (parsed?.msg !== undefined) {
      const details = parsed.details ? `; ${parsed.details}` : '';
      return new HedgeError(
        errorCodeFor(parsed.code ?? 0),
        `CNI plugin ${type} ${command} failed (CNI error ${parsed.code ?? '?'}): ${parsed.msg}${details}`,
      );
    }
    const text = (stderr || stdout).trim() || `exit status ${exit}`;
    return new HedgeError('Internal', `CNI plugin ${type} ${command} failed: ${text}`);
  }
}
