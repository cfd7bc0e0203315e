/**
 * The node's DNS responder: UDP and TCP on one address. Questions under the cluster domain (and
 * reverse names of cluster addresses) are answered from the ClusterZone; everything else is
 * forwarded to the host's resolvers.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../../../lib/log.ts';
import type { ClusterZone } from './cluster-zone.ts';
import type { Forwarder } from './forwarder.ts';
import { RCode, encodeResponse, messageId, parseQuery, UDP_LIMIT, type Query, type RCodeValue } from './wire.ts';

export interface DnsServerOptions {
  zone: ClusterZone;
  forwarder: Forwarder;
  logger: Logger;
  /** a TCP connection idle this long is closed (RFC 7766 suggests seconds); default 10 s */
  tcpIdleMs?: number;
}

export interface DnsListen {
  host: string;
  /** 0 = any free port (tests) */
  port: number;
}

const CLASS_IN = 1;
const MAX_TCP_CONNECTIONS = 256;

export class DnsServer {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<Socket>();
  private readonly stop = new AbortController();
  private readonly log: Logger;

  constructor(private readonly opts: DnsServerOptions) {
    this.log = opts.logger;
  }

  /** Binds UDP and TCP on the same port (port 0: UDP picks one, TCP takes it too). */
  async listen(at: DnsListen): Promise<{ host: string; port: number }> {
    const udp = createSocket({ type: isIP(at.host) === 6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(at.port, at.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    const port = udp.address().port;
    udp.on('error', (err) => this.log.warn({ err }, 'dns udp socket error'));
    udp.on('message', (msg, rinfo) => {
      void this.answer(msg, 'udp').then((out) => {
        if (out) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    const tcp = createServer((sock) => this.serveTcp(sock));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, at.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      this.udp = undefined;
      throw err;
    }
    tcp.on('error', (err) => this.log.warn({ err }, 'dns tcp server error'));
    this.tcp = tcp;
    return { host: at.host, port: (tcp.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    this.stop.abort();
    for (const c of this.conns) c.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
  }

  private serveTcp(sock: Socket): void {
    this.conns.add(sock);
    sock.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    // answers go back in query order, as the client pipelines them (RFC 7766 allows either)
    let chain = Promise.resolve();
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const reply = this.answer(msg, 'tcp');
        chain = chain.then(async () => {
          const out = await reply;
          if (!out || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        });
      }
      if (buf.length > 2 + 65535) sock.destroy();
    });
  }

  /** The answer to one message; undefined = say nothing (not even a header to answer). */
  async answer(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let q: Query;
    try {
      q = parseQuery(msg);
    } catch {
      if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) !== 0) return undefined;
      return this.bare(messageId(msg), RCode.FormErr, msg);
    }
    if (q.opcode !== 0) return this.bare(q.id, RCode.NotImp, msg);
    const limit = transport === 'udp' ? (q.ednsSize ?? UDP_LIMIT) : undefined;
    const ans = q.question.class === CLASS_IN ? this.opts.zone.lookup(q.question) : ({ kind: 'forward' } as const);
    if (ans.kind === 'records') {
      return encodeResponse({ id: q.id, rd: q.rd, opcode: 0, aa: true, rcode: ans.rcode, question: q.question, answers: ans.answers, authority: ans.authority, additional: ans.additional, ednsSize: q.ednsSize }, limit);
    }
    try {
      return await this.opts.forwarder.forward(msg, transport, this.stop.signal);
    } catch (err) {
      if (this.stop.signal.aborted) return undefined;
      this.log.debug({ err, name: q.question.name }, 'dns forward failed');
      return encodeResponse({ id: q.id, rd: q.rd, opcode: 0, aa: false, rcode: RCode.ServFail, question: q.question, answers: [], authority: [], additional: [], ednsSize: q.ednsSize }, limit);
    }
  }

  private bare(id: number, rcode: RCodeValue, msg: Buffer): Buffer {
    const rd = msg.length >= 4 && (msg.readUInt16BE(2) & 0x0100) !== 0;
    const opcode = msg.length >= 4 ? (msg.readUInt16BE(2) >> 11) & 0xf : 0;
    return encodeResponse({ id, rd, opcode, aa: false, rcode, answers: [], authority: [], additional: [] });
  }
}
