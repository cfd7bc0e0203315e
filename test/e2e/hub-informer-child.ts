/**
 * Run inside the edge network namespace by edgehub-informer.test.ts: a @kubernetes/client-node
 * informer on Services of one namespace, through the hub's kubeconfig. One JSON line per
 * callback on stdout: {ev, name, gen} for add/update/delete, {list} for each list call, {error}.
 */
import { CoreV1Api, KubeConfig, makeInformer, type V1Service } from '@kubernetes/client-node';

const [kubeconfig, namespace] = process.argv.slice(2);
if (!kubeconfig || !namespace) throw new Error('usage: hub-informer-child <kubeconfig> <namespace>');
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
let lists = 0;
const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const informer = makeInformer<V1Service>(kc, `/api/v1/namespaces/${namespace}/services`, () => {
  out({ list: ++lists });
  return core.listNamespacedService({ namespace });
});
for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, (s: V1Service) => out({ ev, name: s.metadata?.name, gen: s.metadata?.labels?.gen ?? '' }));
informer.on('error', (err: unknown) => out({ error: String(err) }));
process.on('SIGTERM', () => {
  void informer.stop();
  process.exit(0);
});
await informer.start();
out({ started: true });
