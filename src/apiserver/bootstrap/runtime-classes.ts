import type { KubeObject } from '../../api/object.ts';

/** One RuntimeClass hedge creates at startup when absent. */
export interface DefaultRuntimeClass {
  name: string;
  handler: string;
  /** overhead.podFixed: what one pod sandbox costs beyond its containers' requests */
  podFixed?: Record<string, string>;
}

/**
 * The RuntimeClasses `hedge server` ships. Overheads are meant to come from bench/ measurements
 * (sandbox RSS and CPU of an idle pod minus its container under each handler); update them here.
 *
 * PROVISIONAL: the values below are placeholders until bench/ measures them on the target
 * machine. runc adds no sandbox process of note, gVisor adds the Sentry + Gofer, a microVM adds
 * the VMM and the guest kernel.
 */
export const defaultRuntimeClasses: readonly DefaultRuntimeClass[] = [
  { name: 'runc', handler: 'runc' },
  { name: 'gvisor', handler: 'gvisor', podFixed: { cpu: '50m', memory: '20Mi' } /* PROVISIONAL, not measured */ },
  { name: 'microvm', handler: 'microvm', podFixed: { cpu: '100m', memory: '64Mi' } /* PROVISIONAL, not measured */ },
];

export function runtimeClassObject(rc: DefaultRuntimeClass): KubeObject {
  const obj: KubeObject = {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: rc.name, labels: { 'app.kubernetes.io/managed-by': 'hedge' } },
    handler: rc.handler,
  };
  if (rc.podFixed && Object.keys(rc.podFixed).length > 0) obj.overhead = { podFixed: { ...rc.podFixed } };
  return obj;
}
