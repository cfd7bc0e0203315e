import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HedgeError } from '../lib/errors.ts';
import type { ServerScope } from './handlers/scope.ts';
import { writeRawResponse } from './node-proxy/raw-response.ts';
import type { UpgradeScope } from './providers.ts';
import type { Auditor } from './audit/index.ts';
import { nowMs } from './audit/index.ts';
import { auditIdOf, type AdmitAudit, type RequestPipeline } from './request-pipeline.ts';
import { parseRequestTarget } from './request-info.ts';
import { statusFromError } from './status.ts';

export interface UpgradeListenerOptions {
  server: ServerScope;
  /** the same authentication, authorization and subresource lookup as ordinary requests */
  pipeline: Pick<RequestPipeline, 'admit' | 'subresource'>;
  /** audit events (absent: not audited) */
  auditor?: Auditor;
}

/**
 * The `upgrade` listener. HTTP Upgrade requests (exec, attach) never reach the request listener:
 * the raw socket is ours. After `admit`, the subresource's `upgrade` handler owns the socket; any
 * failure before that is answered on the socket as a Status, as upstream does.
 */
export function createUpgradeListener(opts: UpgradeListenerOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { server, pipeline } = opts;
  const log = server.log;

  const handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const requestId = auditIdOf(req);
    const audit: AdmitAudit | undefined = opts.auditor ? { auditId: requestId, received: nowMs() } : undefined;
    const reqLog = log.child({ requestId });
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    socket.once('close', onClose);
    server.closing.addEventListener('abort', () => socket.destroy(), { once: true, signal: abort.signal });
    socket.on('error', (err) => reqLog.debug({ err }, 'upgrade socket error'));
    try {
      const url = parseRequestTarget(req.url ?? '/');
      const admitted = await pipeline.admit(req, url, audit);
      // ResponseStarted with the code the node answers (101), ResponseComplete when the stream closes
      audit?.rec?.watchSocket(socket);
      if (admitted.info === undefined) throw new HedgeError('BadRequest', 'Upgrade is only supported for pods/exec and pods/attach');
      const { info, def, user } = admitted;
      const sub = info.subresource ? pipeline.subresource(def, info.subresource) : undefined;
      if (!sub?.upgrade) throw new HedgeError('BadRequest', `Upgrade is not supported for ${info.subresource ? `${def.plural}/${info.subresource}` : def.plural}`);
      const rq: UpgradeScope = {
        server,
        req,
        socket,
        head,
        query: url.searchParams,
        info,
        def,
        rs: server.registry.storeFor(def),
        user,
        signal: abort.signal,
        log: reqLog,
      };
      await sub.upgrade(rq);
      reqLog.debug({ url: req.url, user: user.username }, 'upgrade');
    } catch (err) {
      const status = statusFromError(err);
      audit?.rec?.failed(status);
      void audit?.rec?.complete(status.code);
      if (status.code >= 500) reqLog.error({ err }, 'upgrade failed');
      const extra: Record<string, string> = { 'Audit-Id': requestId };
      if (status.code === 401) extra['WWW-Authenticate'] = 'Basic realm="kubernetes-master"';
      writeRawResponse(socket, status.code, 'application/json', JSON.stringify(status), extra);
      socket.off('close', onClose);
      abort.abort();
    }
  };

  return (req, socket, head) => {
    handle(req, socket, head).catch((err: unknown) => {
      log.error({ err }, 'unhandled upgrade error');
      socket.destroy();
    });
  };
}
