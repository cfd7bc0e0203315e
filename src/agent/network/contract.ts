/**
 * The one behaviour suite every NetworkPlugin passes (CNI bridge, macvlan, passthrough) and so
 * does the in-memory fake the agent tests use. At most two sandboxes are set up at a time
 * (passthrough has a pool of two devices in its fixture).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NetworkPlugin, NetworkResult, NetworkSandbox } from './types.ts';

export interface NetworkPluginUnderTest {
  plugin: NetworkPlugin;
  /** a sandbox whose namespace path is the fixture's (not created yet) */
  sandbox(name: string): NetworkSandbox;
  /** is `address` in the subnet the plugin hands out */
  inSubnet(address: string): boolean;
  netnsExists(path: string): Promise<boolean>;
  /** does the namespace hold an interface of that name */
  interfaceIn(netnsPath: string, ifname: string): Promise<boolean>;
  /** host links of this run left behind (checked after every teardown) */
  leakedLinks(): Promise<string[]>;
  cleanup(): Promise<void>;
}

const sig = (): AbortSignal => AbortSignal.timeout(60_000);

export function runNetworkPluginContract(name: string, make: () => Promise<NetworkPluginUnderTest>, opts: { skip?: string | undefined } = {}): void {
  describe(`NetworkPlugin contract: ${name}`, { skip: opts.skip ?? false, concurrency: false }, () => {
    let t: NetworkPluginUnderTest | undefined;
    let n = 0;
    const f = (): NetworkPluginUnderTest => {
      assert.ok(t, 'fixture made');
      return t;
    };
    const it = (title: string, fn: (sb: (name: string) => NetworkSandbox) => Promise<void>): void => {
      test(title, { timeout: 120_000 }, async () => {
        n++;
        const made: NetworkSandbox[] = [];
        const sb = (name: string): NetworkSandbox => {
          const s = f().sandbox(`${name}${n}`);
          made.push(s);
          return s;
        };
        try {
          await fn(sb);
        } finally {
          for (const s of made) await f().plugin.tearDown(s, sig()).catch(() => undefined);
        }
        assert.deepEqual(await f().leakedLinks(), [], 'no leaked host links');
      });
    };
    const checkResult = async (s: NetworkSandbox, r: NetworkResult): Promise<void> => {
      assert.ok(r.ips.length > 0, 'an address');
      for (const ip of r.ips) {
        assert.equal(ip.family, ip.address.includes(':') ? 6 : 4);
        assert.ok(!ip.address.includes('/'), 'bare address');
        assert.ok(f().inSubnet(ip.address), `${ip.address} in the subnet`);
        assert.ok(ip.interface, 'names its interface');
        const iface = r.interfaces.find((i) => i.name === ip.interface && i.sandbox === s.netnsPath);
        assert.ok(iface, `${ip.interface} listed as inside ${s.netnsPath}: ${JSON.stringify(r.interfaces)}`);
        assert.equal(await f().interfaceIn(s.netnsPath, ip.interface), true, `${ip.interface} is in the namespace`);
      }
    };

    before(async () => {
      t = await make();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('setUp makes the namespace and an interface in it with an address from the subnet; status reports the same', async (sb) => {
      const a = sb('a');
      assert.equal(await f().netnsExists(a.netnsPath), false);
      const r = await f().plugin.setUp(a, sig());
      assert.equal(await f().netnsExists(a.netnsPath), true);
      await checkResult(a, r);
      const st = await f().plugin.status(a, sig());
      assert.deepEqual(st?.ips.map((i) => i.address), r.ips.map((i) => i.address));
    });

    it('setUp is idempotent for the same sandbox; two sandboxes get different addresses', async (sb) => {
      const a = sb('a');
      const b = sb('b');
      const r1 = await f().plugin.setUp(a, sig());
      const r2 = await f().plugin.setUp(a, sig());
      assert.deepEqual(r2.ips.map((i) => i.address), r1.ips.map((i) => i.address));
      const rb = await f().plugin.setUp(b, sig());
      await checkResult(b, rb);
      assert.notEqual(rb.ips[0]?.address, r1.ips[0]?.address);
    });

    it('tearDown removes the namespace and is idempotent; status is then undefined; a never set-up sandbox tears down quietly', async (sb) => {
      const a = sb('a');
      await f().plugin.setUp(a, sig());
      await f().plugin.tearDown(a, sig());
      assert.equal(await f().netnsExists(a.netnsPath), false);
      assert.equal(await f().plugin.status(a, sig()), undefined);
      await f().plugin.tearDown(a, sig());
      const never = sb('never');
      await f().plugin.tearDown(never, sig());
      assert.equal(await f().plugin.status(never, sig()), undefined);
    });

    it('an address comes back to the pool: set up, tear down, set up again as many times as the pool allows', async (sb) => {
      for (let i = 0; i < 3; i++) {
        const a = sb(`r${i}x`);
        const b = sb(`r${i}y`);
        await checkResult(a, await f().plugin.setUp(a, sig()));
        await checkResult(b, await f().plugin.setUp(b, sig()));
        await f().plugin.tearDown(a, sig());
        await f().plugin.tearDown(b, sig());
      }
    });
  });
}
