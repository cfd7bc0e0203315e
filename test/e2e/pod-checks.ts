/** Polling and pod-HTTP helpers shared by the whole-system tests. */
import { get } from 'node:http';

/** polls `probe` (50 ms doubling to 300 ms) until it yields a value; `explain` adds context on timeout */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, explain: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 300);
  }
}

/** GET http://ip:port/ on a fresh connection each time: busybox httpd closes after one answer, so a pooled socket would be stale */
export async function fetchText(ip: string, opts: { port?: number; timeoutMs?: number } = {}): Promise<string> {
  // busybox httpd under Debian's runsc (hostinet) sometimes closes a connection whose request
  // arrives late on a loaded host (docs/host-notes.md): a reset connection is tried again, twice
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchOnce(ip, opts);
    } catch (err) {
      if (attempt >= 3 || !/socket hang up|ECONNRESET/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function fetchOnce(ip: string, opts: { port?: number; timeoutMs?: number }): Promise<string> {
  const port = opts.port ?? 8080;
  return new Promise((resolve, reject) => {
    const req = get({ host: ip, port, path: '/', agent: false, timeout: opts.timeoutMs ?? 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${ip}:${port}/: timeout`)));
    req.on('error', (err) => reject(new Error(`GET http://${ip}:${port}/: ${err.message}`)));
  });
}
