import type { TestServer } from './test-server.ts';

export interface WatchLine {
  type: string;
  object: { kind?: string; metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }; [k: string]: unknown };
}

export interface WatchReader {
  status: number;
  contentType: string | null;
  /** next event, or throws after `timeoutMs` */
  next(timeoutMs?: number): Promise<WatchLine>;
  /** resolves true when the server ends the stream within `timeoutMs` */
  ended(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

/** Open a watch and read its JSON lines one at a time, with bounded waits (no sleeping). */
export async function openWatch(t: TestServer, path: string, headers: Record<string, string> = {}): Promise<WatchReader> {
  const abort = new AbortController();
  const res = await t.request(path, { headers, signal: abort.signal });
  if (!res.body) throw new Error('no body');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const lines: WatchLine[] = [];
  let done = false;
  let pending: Promise<void> | undefined;
  const pump = (): Promise<void> =>
    (pending ??= reader.read().then(
      ({ value, done: d }) => {
        pending = undefined;
        if (d) done = true;
        if (value) buf += decoder.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) lines.push(JSON.parse(line) as WatchLine);
        }
      },
      () => {
        pending = undefined;
        done = true;
      },
    ));
  const withTimeout = async <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    async next(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (lines.length === 0) {
        if (done) throw new Error('watch ended');
        await withTimeout(pump(), Math.max(1, deadline - Date.now()), 'watch event');
      }
      return lines.shift() as WatchLine;
    },
    async ended(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (!done) {
        try {
          await withTimeout(pump(), Math.max(1, deadline - Date.now()), 'watch end');
        } catch {
          return false;
        }
      }
      return true;
    },
    close() {
      abort.abort();
      reader.cancel().catch(() => {});
    },
  };
}
