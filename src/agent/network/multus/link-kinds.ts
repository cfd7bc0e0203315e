/**
 * Which link types the kernel can make, asked once per kind: a plugin such as ipvlan fails deep in
 * its ADD with "operation not supported" where the kernel lacks the type (this machine has no
 * ipvlan module); asking first turns that into a pod error that says so. The probe creates the
 * link in a throwaway network namespace (`unshare --net`, gone with the process), where the
 * kernel answers "Unknown device type" only when it has no such link type at all.
 */
import { runCommand } from '../../host/run-command.ts';

export interface LinkKinds {
  /** true when the kernel can create links of this kind (ipvlan, macvlan, vlan, …) */
  supported(kind: string, signal?: AbortSignal): Promise<boolean>;
}

/** CNI plugin type → the link kind it needs from the kernel */
export const PLUGIN_LINK_KIND: Readonly<Record<string, string>> = { ipvlan: 'ipvlan', macvlan: 'macvlan', vlan: 'vlan' };

export class KernelLinkKinds implements LinkKinds {
  private readonly cache = new Map<string, Promise<boolean>>();

  supported(kind: string, signal?: AbortSignal): Promise<boolean> {
    if (!/^[a-z0-9_]+$/.test(kind)) return Promise.resolve(false);
    let p = this.cache.get(kind);
    if (!p) {
      p = runCommand('unshare', ['--net', 'ip', 'link', 'add', 'hedgeprobe0', 'type', kind], { signal, timeoutMs: 10_000 }).then(
        (r) => r.code === 0 || !/unknown device type|not supported/i.test(r.stderr),
      );
      // a failed probe (aborted, no unshare) is asked again next time
      p.catch(() => this.cache.delete(kind));
      this.cache.set(kind, p);
    }
    return p;
  }
}
