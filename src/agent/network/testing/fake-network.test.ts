/** The fake the agent tests use passes the same NetworkPlugin contract as the CNI modes. */
import { runNetworkPluginContract } from '../contract.ts';
import { FakeNetwork } from './fake-network.ts';

runNetworkPluginContract('fake', async () => {
  const fake = new FakeNetwork();
  return {
    plugin: fake,
    sandbox: (name) => ({ id: `fake-${name}`, pod: { uid: `uid-${name}`, namespace: 'default', name }, netnsPath: `/fake/netns/${name}`, portMappings: [] }),
    inSubnet: (address) => address.startsWith('10.88.'),
    netnsExists: async (path) => fake.namespaces.has(path),
    interfaceIn: async (path, ifname) => [...fake.active.values()].some((r) => r.interfaces.some((i) => i.sandbox === path && i.name === ifname)),
    leakedLinks: async () => [],
    cleanup: async () => {},
  };
});
