import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { join, posix } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import type { ImageInfo, Mount } from '../image/types.ts';
import type { ContainerConfig, ContainerId, ContainerMount, SandboxId } from '../runtime/types.ts';
import type { PreparedVolume } from '../volumes/types.ts';
import { containerCommand } from './command.ts';
import { Labels, type ContainerKind } from './labels.ts';
import { containerResources } from './resources.ts';

export interface BuildContainerOptions {
  pod: Pod;
  container: Container;
  kind: ContainerKind;
  id: ContainerId;
  sandboxId: SandboxId;
  image: ImageInfo;
  rootfs: Mount[];
  env: Map<string, string>;
  volumes: Map<string, PreparedVolume>;
  restartCount: number;
  logPath: string;
  /** the running container whose PID namespace this one joins (an ephemeral container's target) */
  pidNamespaceOf?: ContainerId;
}

/** PodSpec container → the runtime's ContainerConfig (pure; inputs already resolved). */
export function buildContainerConfig(o: BuildContainerOptions): ContainerConfig {
  const c = o.container;
  const psc = o.pod.spec?.securityContext ?? {};
  const csc = c.securityContext ?? {};
  const imageUser = parseImageUser(o.image.config.User);
  const uid = csc.runAsUser ?? psc.runAsUser ?? imageUser.uid ?? 0;
  const gid = csc.runAsGroup ?? psc.runAsGroup ?? imageUser.gid ?? 0;
  const additionalGids = [...new Set([...(psc.supplementalGroups ?? []), ...(psc.fsGroup !== undefined ? [psc.fsGroup] : [])])];
  if ((csc.runAsNonRoot ?? psc.runAsNonRoot) && uid === 0) {
    throw new HedgeError('Invalid', 'container has runAsNonRoot and image will run as root');
  }
  const podMeta = o.pod.metadata ?? {};
  return {
    id: o.id,
    sandboxId: o.sandboxId,
    name: c.name,
    image: { ref: c.image ?? '', digest: o.image.digest },
    rootfs: o.rootfs,
    command: containerCommand(c, o.image.config, o.env),
    env: [...o.env].map(([name, value]) => ({ name, value })),
    workingDir: c.workingDir || o.image.config.WorkingDir || '/',
    user: { uid, gid, additionalGids },
    mounts: containerMounts(c, o.volumes),
    resources: containerResources(c),
    security: {
      privileged: csc.privileged ?? false,
      readOnlyRootFilesystem: csc.readOnlyRootFilesystem ?? false,
      capabilitiesAdd: [...(csc.capabilities?.add ?? [])],
      capabilitiesDrop: [...(csc.capabilities?.drop ?? [])],
      noNewPrivileges: csc.allowPrivilegeEscalation === false,
      ...seccompChoice(csc.seccompProfile ?? psc.seccompProfile),
    },
    tty: c.tty ?? false,
    ...(c.stdin ? { stdin: { once: c.stdinOnce ?? false } } : {}),
    logPath: o.logPath,
    // upstream does not validate the path; a relative one is taken from the root, as runc would
    ...(c.terminationMessagePath ? { terminationMessagePath: posix.resolve('/', c.terminationMessagePath) } : {}),
    ...(o.pidNamespaceOf ? { pidNamespaceOf: o.pidNamespaceOf } : {}),
    labels: {
      [Labels.podUid]: podMeta.uid ?? '',
      [Labels.podName]: podMeta.name ?? '',
      [Labels.podNamespace]: podMeta.namespace ?? '',
      [Labels.containerName]: c.name,
      [Labels.containerKind]: o.kind,
      [Labels.restartCount]: String(o.restartCount),
      [Labels.imageId]: o.image.id,
      [Labels.imageRef]: o.image.ref,
    },
    annotations: {},
  };
}

function seccompChoice(p: { type: string; localhostProfile?: string } | undefined): Pick<ContainerConfig['security'], 'seccomp'> {
  switch (p?.type) {
    case 'Unconfined':
    case 'RuntimeDefault':
      return { seccomp: { type: p.type } };
    case 'Localhost':
      return { seccomp: { type: 'Localhost', localhostProfile: p.localhostProfile ?? '' } };
    default:
      return {};
  }
}

function containerMounts(c: Container, volumes: Map<string, PreparedVolume>): ContainerMount[] {
  const out: ContainerMount[] = [];
  for (const vm of c.volumeMounts ?? []) {
    const v = volumes.get(vm.name);
    if (!v) throw new HedgeError('Invalid', `volumeMount "${vm.name}": no volume of that name`);
    if (vm.subPath && (vm.subPath.startsWith('/') || vm.subPath.split('/').includes('..'))) {
      throw new HedgeError('Invalid', `volumeMount "${vm.name}": subPath must be relative without '..'`);
    }
    out.push({
      containerPath: vm.mountPath,
      hostPath: vm.subPath ? join(v.hostPath, vm.subPath) : v.hostPath,
      readOnly: (vm.readOnly ?? false) || v.readOnly,
      type: 'bind',
    });
  }
  return out;
}

/** numeric `uid[:gid]` from the image config; names need the image's /etc/passwd (runtime side) */
function parseImageUser(user: string | undefined): { uid?: number; gid?: number } {
  if (!user) return {};
  const [u, g] = user.split(':');
  const uid = /^\d+$/.test(u) ? Number(u) : undefined;
  const gid = g !== undefined && /^\d+$/.test(g) ? Number(g) : undefined;
  return { uid, gid };
}
