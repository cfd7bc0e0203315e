import type { Job, JobCondition, JobStatus } from 'kubernetes-types/batch/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { matches, selectorFromLabelSelector } from '../../api/labels/selector.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { PodObject } from '../common/types.ts';
import type { SharedInformers } from './informers.ts';
import { controllerOf, controllerRef, objectKey, splitKey } from './owners.ts';
import { deletionOrder, isActive, isReady, podFromTemplate } from './pods.ts';
import { WorkQueue } from './queue.ts';
import { Expectations, slowStart } from './replicaset.ts';

export type JobObject = Job & KubeObject;

export interface JobControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
  workers?: number;
}

const FM = { fieldManager: 'job-controller' };

export function jobFinished(job: JobObject): 'Complete' | 'Failed' | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed')) return c.type;
  }
  return undefined;
}

/**
 * The Job controller: runs pods until `completions` succeed (or, without completions, until
 * one succeeds and none is left running), at most `parallelism` at a time; fails the Job after
 * more than `backoffLimit` failed pods or past activeDeadlineSeconds; deletes finished Jobs
 * after ttlSecondsAfterFinished. Terminated pods are counted once and kept (upstream keeps them
 * for `kubectl logs job/NAME`).
 */
export class JobController {
  readonly queue = new WorkQueue();
  readonly #jobs: SharedInformer<JobObject>;
  readonly #pods: SharedInformer<PodObject>;
  readonly #exp: Expectations;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #byUid = new Map<string, string>();

  constructor(private readonly cfg: JobControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'job-controller' });
    this.#exp = new Expectations(this.#clock);
    this.#events = new EventRecorder({ client: cfg.client, component: 'job-controller', clock: this.#clock, logger: this.#log });
    this.#jobs = cfg.informers.for<JobObject>(Resources.jobs);
    this.#pods = cfg.informers.for<PodObject>(Resources.pods);
    const onJob = (j: JobObject): void => {
      this.#byUid.set(j.metadata.uid ?? '', objectKey(j));
      this.queue.add(objectKey(j));
    };
    this.#jobs.addHandlers({ onAdd: onJob, onUpdate: (_, j) => onJob(j), onDelete: (j) => this.#byUid.delete(j.metadata.uid ?? '') });
    const ownerKey = (p: PodObject): string | undefined => {
      const ref = controllerOf(p);
      return ref?.kind === 'Job' ? this.#byUid.get(ref.uid) : undefined;
    };
    this.#pods.addHandlers({
      onAdd: (p) => {
        const k = ownerKey(p);
        if (!k) return;
        this.#exp.observedAdd(k);
        this.queue.add(k);
      },
      onUpdate: (_, p) => {
        const k = ownerKey(p);
        if (k) this.queue.add(k);
      },
      onDelete: (p) => {
        const k = ownerKey(p);
        if (!k) return;
        this.#exp.observedDelete(k, p.metadata.name ?? '');
        this.queue.add(k);
      },
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: this.cfg.workers ?? 2, logger: this.#log });
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const job = this.#jobs.get(name, namespace);
    if (!job || job.metadata.deletionTimestamp) return;
    const now = this.#clock.now();
    const finished = jobFinished(job);
    if (finished) {
      await this.#ttl(job, now, signal);
      return;
    }
    let selector;
    try {
      selector = selectorFromLabelSelector(job.spec?.selector);
    } catch {
      return;
    }
    const pods = this.#pods.list().filter((p) => p.metadata.namespace === namespace && controllerOf(p)?.uid === job.metadata.uid && matches(selector, p.metadata.labels ?? {}));
    const active = pods.filter(isActive);
    const succeeded = Math.max(job.status?.succeeded ?? 0, pods.filter((p) => p.status?.phase === 'Succeeded').length);
    const failed = Math.max(job.status?.failed ?? 0, pods.filter((p) => p.status?.phase === 'Failed').length);
    const spec = job.spec;
    const completions = spec?.completions;
    const parallelism = spec?.parallelism ?? 1;
    const backoffLimit = spec?.backoffLimit ?? 6;
    const startTime = job.status?.startTime ?? formatTime(now);
    let conds: JobCondition[] = [...(job.status?.conditions ?? [])];
    const stamp = formatTime(now);
    const cond = (type: string, reason: string, message: string): JobCondition => ({ type, status: 'True', reason, message, lastProbeTime: stamp, lastTransitionTime: stamp });

    let failure: { reason: string; message: string } | undefined;
    if (failed > backoffLimit) failure = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
    const deadline = spec?.activeDeadlineSeconds;
    if (!failure && deadline !== undefined && !spec?.suspend) {
      const left = Date.parse(startTime) + deadline * 1000 - now;
      if (left <= 0) failure = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
      else this.queue.addAfter(key, left + 100);
    }
    const complete = completions !== undefined && completions !== null ? succeeded >= completions : succeeded > 0 && active.length === 0;
    let completionTime: string | undefined;
    if (failure) {
      await this.#deletePods(key, active, signal);
      conds = [...conds.filter((c) => c.type !== 'FailureTarget' && c.type !== 'Failed'), cond('FailureTarget', failure.reason, failure.message), cond('Failed', failure.reason, failure.message)];
      void this.#events.record({ involved: job, type: 'Warning', reason: failure.reason, message: failure.message });
    } else if (complete) {
      await this.#deletePods(key, active, signal);
      completionTime = stamp;
      conds = [...conds.filter((c) => c.type !== 'SuccessCriteriaMet' && c.type !== 'Complete'), cond('SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods'), cond('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods')];
      void this.#events.record({ involved: job, type: 'Normal', reason: 'Completed', message: 'Job completed' });
    } else if (this.#exp.satisfied(key)) {
      let want = spec?.suspend ? 0 : completions !== undefined && completions !== null ? Math.min(parallelism, completions - succeeded) : succeeded > 0 ? 0 : parallelism;
      want = Math.max(0, want);
      if (active.length > want) await this.#deletePods(key, [...active].sort(deletionOrder).slice(0, active.length - want), signal);
      else if (active.length < want) {
        const n = want - active.length;
        this.#exp.expect(key, n, []);
        const owner = controllerRef(job, Resources.jobs);
        const res = await slowStart(n, async () => {
          const pod = podFromTemplate(job.spec?.template, { namespace, owner, generateName: `${name}-` });
          await this.cfg.client.create(Resources.pods, pod, { signal, ...FM });
        });
        if (res.err) {
          this.#exp.lowerAdds(key, n - res.done);
          void this.#events.record({ involved: job, type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${(res.err as Error).message}` });
          throw res.err;
        }
        void this.#events.record({ involved: job, type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod(s): ${res.done}` });
      }
    }
    const suspended = conds.find((c) => c.type === 'Suspended');
    if (spec?.suspend && !failure && !complete && suspended?.status !== 'True') conds = [...conds.filter((c) => c.type !== 'Suspended'), cond('Suspended', 'JobSuspended', 'Job suspended')];
    if (!spec?.suspend && suspended?.status === 'True') conds = [...conds.filter((c) => c.type !== 'Suspended'), { ...cond('Suspended', 'JobResumed', 'Job resumed'), status: 'False' }];
    const stillActive = failure || complete ? 0 : pods.filter(isActive).length;
    const status: JobStatus = {
      ...job.status,
      startTime,
      active: stillActive,
      ready: failure || complete ? 0 : active.filter(isReady).length,
      succeeded,
      failed,
      terminating: pods.filter((p) => p.metadata.deletionTimestamp).length,
      uncountedTerminatedPods: {},
      conditions: conds,
    };
    if (completionTime) status.completionTime = completionTime;
    if (JSON.stringify(status) !== JSON.stringify(job.status)) {
      try {
        await this.cfg.client.patch(Resources.jobs, name, 'merge', { status }, { namespace, subresource: 'status', signal, ...FM });
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
      }
    }
  }

  async #deletePods(key: string, pods: PodObject[], signal: AbortSignal): Promise<void> {
    if (pods.length === 0) return;
    this.#exp.expect(key, 0, pods.map((p) => p.metadata.name ?? ''));
    await Promise.all(
      pods.map(async (p) => {
        try {
          await this.cfg.client.delete(Resources.pods, p.metadata.name ?? '', { namespace: p.metadata.namespace, signal });
        } catch (err) {
          if (!isHedgeError(err, 'NotFound')) throw err;
          this.#exp.observedDelete(key, p.metadata.name ?? '');
        }
      }),
    );
  }

  /** the TTL-after-finished controller's job: delete the Job (and, through GC, its pods) */
  async #ttl(job: JobObject, now: number, signal: AbortSignal): Promise<void> {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (ttl === undefined || ttl === null) return;
    const finishedAt = job.status?.completionTime ?? job.status?.conditions?.find((c) => c.type === 'Failed' || c.type === 'Complete')?.lastTransitionTime;
    const at = (Date.parse(finishedAt ?? '') || now) + ttl * 1000;
    if (at > now) {
      this.queue.addAfter(objectKey(job), at - now + 50);
      return;
    }
    try {
      await this.cfg.client.delete(Resources.jobs, job.metadata.name ?? '', { namespace: job.metadata.namespace, signal, propagationPolicy: 'Background', preconditions: { uid: job.metadata.uid } });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound') && !isHedgeError(err, 'Conflict')) throw err;
    }
  }
}
