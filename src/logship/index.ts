export { LogShipper, podDirLabels, type DroppedLines, type LogShipperConfig, type SinkStats } from './shipper.ts';
export { createSink, parseSinkUrl, SINK_SCHEMES, type SinkScheme, type SinkSpec } from './sink-url.ts';
export { LokiSink, unixNanos } from './loki-sink.ts';
export { RelpSink } from './relp-sink.ts';
export { SyslogStreamSink } from './syslog-stream-sink.ts';
export { formatSyslog, octetCounted, SD_ID } from './syslog-format.ts';
export type { LogLabels, LogRecord, LogSink, SendResult } from './types.ts';
export { registerShipperMetrics } from './metrics.ts';
