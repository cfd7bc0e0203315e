import type { Pod } from 'kubernetes-types/core/v1.js';
import type { PriorityClass } from 'kubernetes-types/scheduling/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { DEFAULT_PRIORITY, systemPriorityClass, type PreemptionPolicy } from '../../api/priority-classes.ts';
import { admissionForbidden } from './forbidden.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

export interface PriorityAdmissionOptions {
  /** the PriorityClass named `name`, undefined when there is none */
  getPriorityClass(name: string): Promise<KubeObject | undefined>;
  /**
   * every PriorityClass (for the globalDefault one); `fresh` when deciding on a PriorityClass
   * write (read the store), else an informer's view will do (pod creates, as upstream's lister)
   */
  listPriorityClasses(opts: { fresh: boolean }): Promise<Iterable<KubeObject>>;
}


/** The globalDefault class; with more than one (a race), the lowest value wins, as upstream. */
async function defaultClass(opts: PriorityAdmissionOptions, fresh: boolean): Promise<PriorityClass | undefined> {
  let found: PriorityClass | undefined;
  for (const obj of await opts.listPriorityClasses({ fresh })) {
    const pc = obj as unknown as PriorityClass;
    if (pc.globalDefault && (!found || pc.value < found.value)) found = pc;
  }
  return found;
}

const isPods = (req: AdmissionRequest): boolean => req.def.group === '' && req.def.plural === 'pods' && req.subresource === '';
const isPriorityClasses = (req: AdmissionRequest): boolean => req.def.group === 'scheduling.k8s.io' && req.def.plural === 'priorityclasses' && req.subresource === '';

/**
 * Upstream's Priority admission plugin (plugin/pkg/admission/priority, v1.32). On pod create:
 * `spec.priorityClassName` → `spec.priority` and `spec.preemptionPolicy` (no class named: the
 * globalDefault class, else priority 0 and PreemptLowerPriority); an unknown class, or a pod that
 * brings a priority or preemptionPolicy other than its class's, is Forbidden. Since v1.17 the
 * system classes may be used in any namespace (a ResourceQuota limits them where wanted). On pod
 * update the stored priority is kept when the body omits it. PriorityClass create/update: at most
 * one globalDefault. Deleting a system class is Forbidden (upstream's priorityclass storage).
 */
export function priorityPlugin(opts: PriorityAdmissionOptions): AdmissionPlugin {
  return {
    name: 'Priority',
    async mutate(req) {
      if (!isPods(req) || !req.object) return;
      const spec = ((req.object as unknown as Pod).spec ??= { containers: [] });
      if (req.operation === 'UPDATE') {
        const old = (req.oldObject as unknown as Pod | undefined)?.spec;
        if (spec.priority === undefined && old?.priority !== undefined) spec.priority = old.priority;
        if (spec.preemptionPolicy === undefined && old?.preemptionPolicy !== undefined) spec.preemptionPolicy = old.preemptionPolicy;
        return;
      }
      if (req.operation !== 'CREATE') return;
      let priority = DEFAULT_PRIORITY;
      let policy: PreemptionPolicy | undefined = 'PreemptLowerPriority';
      if (!spec.priorityClassName) {
        const pc = await defaultClass(opts, false);
        if (pc) {
          spec.priorityClassName = pc.metadata?.name;
          priority = pc.value;
          policy = pc.preemptionPolicy as PreemptionPolicy | undefined;
        }
      } else {
        const obj = await opts.getPriorityClass(spec.priorityClassName);
        if (!obj) throw admissionForbidden(req, `no PriorityClass with name ${spec.priorityClassName} was found`);
        const pc = obj as unknown as PriorityClass;
        priority = pc.value;
        policy = pc.preemptionPolicy as PreemptionPolicy | undefined;
      }
      if (spec.priority !== undefined && spec.priority !== null && spec.priority !== priority) {
        throw admissionForbidden(
          req,
          `the integer value of priority (${String(spec.priority)}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`,
        );
      }
      spec.priority = priority;
      if (policy) {
        if (spec.preemptionPolicy && spec.preemptionPolicy !== policy) {
          throw admissionForbidden(
            req,
            `the string value of PreemptionPolicy (${spec.preemptionPolicy}) must not be provided in pod spec; priority admission controller computed ${policy} from the given PriorityClass name`,
          );
        }
        spec.preemptionPolicy = policy;
      }
    },
    async validate(req) {
      if (!isPriorityClasses(req)) return;
      if (req.operation === 'DELETE') {
        if (systemPriorityClass(req.name)) throw admissionForbidden(req, 'this is a system priority class and cannot be deleted');
        return;
      }
      if ((req.operation !== 'CREATE' && req.operation !== 'UPDATE') || !req.object) return;
      const pc = req.object as unknown as PriorityClass;
      if (!pc.globalDefault) return;
      const dpc = await defaultClass(opts, true);
      const name = dpc?.metadata?.name;
      if (dpc && (req.operation === 'CREATE' || name !== pc.metadata?.name)) {
        throw admissionForbidden(req, `PriorityClass ${name ?? ''} is already marked as default. Only one default can exist`);
      }
    },
  };
}
