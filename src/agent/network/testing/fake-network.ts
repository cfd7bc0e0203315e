import type { NetworkPlugin, NetworkResult, NetworkSandbox } from '../types.ts';

/**
 * In-memory NetworkPlugin: hands out 10.88.0.x addresses (and fd00:88::x with `ipv6`) and records set-up/tear-down order.
 * Like the CNI plugin it "creates" the sandbox's namespace in setUp and removes it in tearDown
 * (`namespaces`), returns addresses to the pool, and passes the NetworkPlugin contract (../contract.ts).
 */
export class FakeNetwork implements NetworkPlugin {
  readonly name = 'fake';
  readonly active = new Map<string, NetworkResult>();
  /** namespace paths that exist */
  readonly namespaces = new Set<string>();
  readonly ops: string[] = [];
  private readonly free: number[] = [];
  private next = 2;
  /** when set, setUp waits on it first (to test what runs beside network set-up) */
  gate?: (sb: NetworkSandbox) => Promise<void>;
  /** dual-stack: each sandbox also gets fd00:88::x (after its IPv4 address, as host-local lists them) */
  ipv6 = false;

  async setUp(sb: NetworkSandbox): Promise<NetworkResult> {
    this.ops.push(`setUp:${sb.pod.name}`);
    await this.gate?.(sb);
    const have = this.active.get(sb.id);
    if (have) return structuredClone(have);
    const host = this.free.shift() ?? this.next++;
    const r: NetworkResult = {
      ips: [
        { address: `10.88.0.${host}`, prefixLength: 16, family: 4, gateway: '10.88.0.1', interface: 'eth0' },
        ...(this.ipv6 ? [{ address: `fd00:88::${host.toString(16)}`, prefixLength: 64, family: 6 as const, gateway: 'fd00:88::1', interface: 'eth0' }] : []),
      ],
      interfaces: [{ name: `veth${host}` }, { name: 'eth0', sandbox: sb.netnsPath }],
      hostInterface: `veth${host}`,
    };
    this.active.set(sb.id, r);
    this.namespaces.add(sb.netnsPath);
    return structuredClone(r);
  }

  async prepare(sb: NetworkSandbox): Promise<void> {
    this.ops.push(`prepare:${sb.pod.name}`);
    this.namespaces.add(sb.netnsPath);
  }

  async tearDown(sb: NetworkSandbox): Promise<void> {
    this.ops.push(`tearDown:${sb.pod.name}`);
    const r = this.active.get(sb.id);
    if (r) this.free.push(Number(r.ips[0]?.address.split('.')[3]));
    this.active.delete(sb.id);
    this.namespaces.delete(sb.netnsPath);
  }

  async status(sb: NetworkSandbox): Promise<NetworkResult | undefined> {
    const r = this.active.get(sb.id);
    return r && structuredClone(r);
  }
}
