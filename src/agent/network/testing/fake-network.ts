import type { NetworkPlugin, NetworkResult, NetworkSandbox } from '../types.ts';

/** In-memory NetworkPlugin: hands out 10.88.0.x addresses and records set-up/tear-down order. */
export class FakeNetwork implements NetworkPlugin {
  readonly name = 'fake';
  readonly active = new Map<string, NetworkResult>();
  readonly ops: string[] = [];
  private next = 2;
  /** when set, setUp waits on it first (to test what runs beside network set-up) */
  gate?: (sb: NetworkSandbox) => Promise<void>;

  async setUp(sb: NetworkSandbox): Promise<NetworkResult> {
    this.ops.push(`setUp:${sb.pod.name}`);
    await this.gate?.(sb);
    const have = this.active.get(sb.id);
    if (have) return have;
    const r: NetworkResult = {
      ips: [{ address: `10.88.0.${this.next++}`, family: 4, gateway: '10.88.0.1', interface: 'eth0' }],
      interfaces: [{ name: 'eth0', sandbox: sb.netnsPath }],
      hostInterface: `veth${this.next}`,
    };
    this.active.set(sb.id, r);
    return r;
  }

  async tearDown(sb: NetworkSandbox): Promise<void> {
    this.ops.push(`tearDown:${sb.pod.name}`);
    this.active.delete(sb.id);
  }

  async status(sb: NetworkSandbox): Promise<NetworkResult | undefined> {
    return this.active.get(sb.id);
  }
}
