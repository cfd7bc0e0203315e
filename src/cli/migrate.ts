import type { Command } from 'commander';
import { usageError } from './usage-error.ts';

interface MigrateFlags {
  from?: string;
  to?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  etcdPrefix?: string;
}

/** `etcd://h:p[,h:p]` → http URLs; `etcd+tls://...` → https URLs. */
export function parseEtcdTarget(to: string): string[] {
  const m = /^etcd(\+tls)?:\/\/([^/]+)\/?$/.exec(to);
  if (m === null) throw usageError(`--to: "${to}" is not etcd://HOST:PORT[,HOST:PORT...] (or etcd+tls://...)`);
  const scheme = m[1] === undefined ? 'http' : 'https';
  const hosts = m[2]!.split(',').map((h) => h.trim());
  for (const h of hosts) {
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(h)) throw usageError(`--to: "${h}" is not HOST:PORT`);
  }
  return hosts.map((h) => `${scheme}://${h}`);
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('copy a stopped SQLite control plane into an empty etcd, verified by count and checksum')
    .requiredOption('--from <path>', 'the server data dir (its state.db) or a state.db file; stop that server first')
    .requiredOption('--to <url>', 'etcd://HOST:PORT[,HOST:PORT...] (etcd+tls://... with --etcd-cafile)')
    .option('--etcd-cafile <file>', 'PEM CA of the etcd servers (etcd+tls://)')
    .option('--etcd-certfile <file>', 'PEM client certificate for etcd (with --etcd-keyfile)')
    .option('--etcd-keyfile <file>', 'PEM key of --etcd-certfile')
    .option('--etcd-prefix <prefix>', 'key prefix in etcd, as given to `hedge server --etcd-prefix` (default: none)')
    .addHelpText(
      'after',
      '\nThen start the server on etcd with the same data dir (PKI, tokens):\n' +
        '  hedge server --data-dir DIR --store etcd --etcd-servers http://HOST:PORT',
    )
    .action(async (flags: MigrateFlags) => {
      const endpoints = parseEtcdTarget(flags.to!);
      if (endpoints[0]!.startsWith('https:') && flags.etcdCafile === undefined) throw usageError('--to etcd+tls:// needs --etcd-cafile');
      if ((flags.etcdCertfile === undefined) !== (flags.etcdKeyfile === undefined)) throw usageError('--etcd-certfile and --etcd-keyfile go together');
      if (flags.etcdPrefix !== undefined && flags.etcdPrefix !== '' && !flags.etcdPrefix.startsWith('/')) throw usageError('--etcd-prefix: must be empty or start with /');
      // loaded on use: `hedge --help` must not pull in the stores
      const { runMigrate } = await import('./run-migrate.ts');
      await runMigrate({
        from: flags.from!,
        endpoints,
        prefix: flags.etcdPrefix ?? '',
        tlsFiles: { ca: flags.etcdCafile, cert: flags.etcdCertfile, key: flags.etcdKeyfile },
        out: process.stdout,
      });
    });
}
