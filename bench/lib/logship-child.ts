/**
 * bench/logship.ts runs the shipper in a process of its own (so its CPU and RSS are its own):
 * `node --import tsx bench/lib/logship-child.ts PODS_DIR STATE_DIR SINK_URL`. Prints `ready` once
 * it runs; SIGTERM stops it.
 */
import { silentLogger } from '../../src/lib/log.ts';
import { createSink, LogShipper, parseSinkUrl } from '../../src/logship/index.ts';

const [podLogsDir, stateDir, sinkUrl] = process.argv.slice(2);
if (!podLogsDir || !stateDir || !sinkUrl) throw new Error('usage: logship-child.ts PODS_DIR STATE_DIR SINK_URL');
const shipper = await LogShipper.open({
  nodeName: 'bench',
  podLogsDir,
  stateDir,
  sinks: [createSink(parseSinkUrl(sinkUrl))],
  bufferBytes: 1 << 30,
  logger: silentLogger(),
});
const ac = new AbortController();
process.once('SIGTERM', () => ac.abort());
const running = shipper.run(ac.signal);
process.stdout.write('ready\n');
await running;
