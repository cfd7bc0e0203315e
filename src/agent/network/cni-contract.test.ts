/**
 * The NetworkPlugin contract (./contract.ts) on the CNI plugin in its three modes, with the real
 * Debian plugins from /usr/lib/cni, as root. Names, subnets and the namespace dir are unique to
 * the run; macvlan's parent and passthrough's devices are veth pairs the test makes (a
 * passthrough device's peer sits in a namespace of the test's own).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkModeConfig } from './cni-config.ts';
import { CniNetworkPlugin } from './cni-plugin.ts';
import { runNetworkPluginContract, type NetworkPluginUnderTest } from './contract.ts';
import { createNetns, netnsExists, removeNetns } from './netns.ts';
import { runChecked } from '../host/run-command.ts';
import { createVethPair, deleteLink, linkExists, randomSubnet, randomSuffix, runLinks, cniSkipReason } from './test-helpers.ts';

const skip = cniSkipReason();

type Mode = 'bridge' | 'macvlan' | 'passthrough';

async function fixture(kind: Mode): Promise<NetworkPluginUnderTest> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), `hedge-netc-${kind}-`));
  const netnsDir = `/run/hedge/test-${run}`;
  const before = await runLinks(run);
  const { subnet, prefix } = randomSubnet();
  const undo: (() => Promise<unknown>)[] = [];
  /** links the fixture owns (the node's bridge, macvlan's parent, passthrough's devices): not a pod's leak */
  const owned = new Set<string>();
  let mode: NetworkModeConfig;
  switch (kind) {
    case 'bridge':
      mode = { type: 'bridge', bridge: `hedgb${run}`, subnet };
      owned.add(`hedgb${run}`);
      break;
    case 'macvlan': {
      const parent = `hedgm${run}a`;
      await createVethPair(parent, `hedgm${run}b`);
      undo.push(() => deleteLink(parent));
      owned.add(parent).add(`hedgm${run}b`);
      mode = { type: 'macvlan', master: parent, subnet };
      break;
    }
    case 'passthrough': {
      // two devices, each a veth whose peer lives in a namespace of the test's own
      const peerNs = join(netnsDir, 'peers');
      await createNetns(peerNs);
      undo.push(() => removeNetns(peerNs));
      const devices = [`hedgp${run}a`, `hedgp${run}b`];
      for (const [i, dev] of devices.entries()) {
        const peer = `hedgq${run}${i}`;
        await createVethPair(dev, peer);
        await runChecked('ip', ['link', 'set', peer, 'netns', peerNs]);
        undo.push(() => deleteLink(dev));
        owned.add(dev);
      }
      mode = { type: 'passthrough', devices, subnet };
      break;
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown mode ${String(never)}`);
    }
  }
  const plugin = new CniNetworkPlugin({ mode, dataDir, netnsDir });
  return {
    plugin,
    sandbox: (name) => ({ id: `${run}-${name}`, pod: { uid: `uid-${run}-${name}`, namespace: 'default', name }, netnsPath: join(netnsDir, name), portMappings: [] }),
    inSubnet: (address) => address.startsWith(`${prefix}.`),
    netnsExists,
    interfaceIn: (path, ifname) => linkExists(ifname, path),
    leakedLinks: async () => [...(await runLinks(run))].filter((l) => !before.has(l) && !owned.has(l)),
    cleanup: async () => {
      await plugin.destroy().catch(() => undefined);
      for (const fn of undo.reverse()) await fn().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
      await rm(netnsDir, { recursive: true, force: true });
    },
  };
}

for (const kind of ['bridge', 'macvlan', 'passthrough'] as const) {
  if (skip) console.log(`# NetworkPlugin contract: cni/${kind} skipped: ${skip}`);
  runNetworkPluginContract(`cni/${kind}`, () => fixture(kind), { skip });
}
