/**
 * A hub in a process of its own, for tests that kill it (`hub-replay-crash.test.ts`):
 * `node --import tsx hub-process.ts '<json HubProcessConfig>'`. Prints one JSON line per event
 * on stdout: `{"url":..., "kubeconfig":...}` once listening, then `{"state":...}` on every state
 * change. SIGTERM closes it; tests SIGKILL it.
 */
import { silentLogger } from '../../lib/log.ts';
import { startHub } from '../hub.ts';

export interface HubProcessConfig {
  nodeName: string;
  dir: string;
  server: string;
  token: string;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as HubProcessConfig;
const say = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const hub = await startHub({ nodeName: cfg.nodeName, dir: cfg.dir, cloud: { server: cfg.server, token: cfg.token }, port: 0, logger: silentLogger(), healthIntervalMs: 100, healthTimeoutMs: 500 });
say({ url: hub.url, kubeconfig: hub.kubeconfigPath });
let last = '';
// the hub has no state events of its own; a 5 ms poll is fine for a test process
const timer = setInterval(() => {
  const s = hub.state();
  if (s !== last) say({ state: (last = s) });
}, 5);
process.on('SIGTERM', () => {
  clearInterval(timer);
  void hub.close().then(() => process.exit(0));
});
