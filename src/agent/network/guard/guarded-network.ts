/**
 * A NetworkPlugin that guards every pod port it sets up (pod-guard.ts): the inner plugin attaches
 * the pod, then its host-side interface is allowed only the pod's own addresses. A pod that
 * cannot be guarded is not handed out: the attachment is undone and setUp fails.
 */
import type { Logger } from '../../../lib/log.ts';
import type { NetworkPlugin, NetworkResult, NetworkSandbox } from '../types.ts';
import type { PodGuard } from './pod-guard.ts';

export class GuardedNetworkPlugin implements NetworkPlugin {
  readonly name: string;

  constructor(
    private readonly inner: NetworkPlugin,
    private readonly guard: PodGuard,
    private readonly log?: Logger,
  ) {
    this.name = inner.name;
  }

  /**
   * sandbox id → the port this process guarded for it: a setUp that finds the attachment made
   * (a pooled network taken by a pod, netns-pool.ts; a retried pass) and guarded alike runs no
   * second nft transaction for it
   */
  readonly #guarded = new Map<string, string>();

  async setUp(sandbox: NetworkSandbox, signal: AbortSignal): Promise<NetworkResult> {
    const res = await this.inner.setUp(sandbox, signal);
    const key = JSON.stringify([res.hostInterface, res.ips, sandbox.portMappings]);
    if (this.#guarded.get(sandbox.id) === key) return res;
    this.#guarded.delete(sandbox.id);
    try {
      await this.protect(sandbox, res, signal);
    } catch (err) {
      await this.inner.tearDown(sandbox, signal).catch((e: unknown) => this.log?.warn({ err: e, sandbox: sandbox.id }, 'teardown after a failed guard failed'));
      throw err;
    }
    this.#guarded.set(sandbox.id, key);
    return res;
  }

  async prepare(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    await this.inner.prepare?.(sandbox, signal);
  }

  async tearDown(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void> {
    this.#guarded.delete(sandbox.id);
    const res = await this.inner.status(sandbox, signal).catch(() => undefined);
    await this.inner.tearDown(sandbox, signal);
    // after the veth is gone: a name the kernel may hand out again must not keep the old address
    if (res?.hostInterface) await this.guard.forget(res.hostInterface, signal);
  }

  async status(sandbox: NetworkSandbox, signal: AbortSignal, opts?: { check?: boolean }): Promise<NetworkResult | undefined> {
    return this.inner.status(sandbox, signal, opts);
  }

  private async protect(sandbox: NetworkSandbox, res: NetworkResult, signal: AbortSignal): Promise<void> {
    // modes without a bridge port of ours (macvlan, host-device) have nothing to guard here
    if (!res.hostInterface) return;
    await this.guard.allow(
      {
        hostInterface: res.hostInterface,
        addresses: res.ips.map((ip) => ({ address: ip.address, family: ip.family })),
        hostPortTargets: sandbox.portMappings.map((p) => ({ protocol: p.protocol, port: p.containerPort })),
      },
      signal,
    );
  }
}
