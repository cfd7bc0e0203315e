import type { CronJob } from 'kubernetes-types/batch/v1.js';
import type { ObjectReference } from 'kubernetes-types/core/v1.js';
import { nextCronTime, parseCronSchedule } from '../../api/cron/index.ts';
import type { KubeObject } from '../../api/object.ts';
import { systemClock, type Clock } from '../../client/clock.ts';
import type { SharedInformer } from '../../client/shared-informers.ts';
import { formatTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { EventRecorder } from '../common/events.ts';
import type { SharedInformers } from './informers.ts';
import { jobFinished, type JobObject } from './job.ts';
import { controllerOf, controllerRef, objectKey, splitKey } from './owners.ts';
import { WorkQueue } from './queue.ts';

export type CronJobObject = CronJob & KubeObject;

export interface CronJobControllerConfig {
  client: KubeClient;
  logger: Logger;
  informers: SharedInformers;
  clock?: Clock;
}

const SCHEDULED_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';

/**
 * The CronJob controller (UTC schedules): at each scheduled time creates the Job
 * `<name>-<minutes since epoch>` from jobTemplate, honouring concurrencyPolicy, suspend and
 * startingDeadlineSeconds, and trims finished Jobs to the history limits.
 */
export class CronJobController {
  readonly queue = new WorkQueue();
  readonly #cjs: SharedInformer<CronJobObject>;
  readonly #jobs: SharedInformer<JobObject>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventRecorder;
  readonly #byUid = new Map<string, string>();

  constructor(private readonly cfg: CronJobControllerConfig) {
    this.#clock = cfg.clock ?? systemClock;
    this.#log = cfg.logger.child({ component: 'cronjob-controller' });
    this.#events = new EventRecorder({ client: cfg.client, component: 'cronjob-controller', clock: this.#clock, logger: this.#log });
    this.#cjs = cfg.informers.for<CronJobObject>(Resources.cronjobs);
    this.#jobs = cfg.informers.for<JobObject>(Resources.jobs);
    const onCj = (c: CronJobObject): void => {
      this.#byUid.set(c.metadata.uid ?? '', objectKey(c));
      this.queue.add(objectKey(c));
    };
    this.#cjs.addHandlers({ onAdd: onCj, onUpdate: (_, c) => onCj(c), onDelete: (c) => this.#byUid.delete(c.metadata.uid ?? '') });
    const onJob = (j: JobObject): void => {
      const ref = controllerOf(j);
      const k = ref?.kind === 'CronJob' ? this.#byUid.get(ref.uid) : undefined;
      if (k) this.queue.add(k);
    };
    this.#jobs.addHandlers({ onAdd: onJob, onUpdate: (_, j) => onJob(j), onDelete: onJob });
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.cfg.informers.waitForSync(signal);
    await this.queue.run(signal, (key) => this.sync(key, signal), { workers: 1, logger: this.#log });
  }

  async sync(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cj = this.#cjs.get(name, namespace);
    if (!cj || cj.metadata.deletionTimestamp) return;
    const { client } = this.cfg;
    const now = this.#clock.now();
    const jobs = this.#jobs.list().filter((j) => j.metadata.namespace === namespace && controllerOf(j)?.uid === cj.metadata.uid);
    const active = jobs.filter((j) => !jobFinished(j));
    let lastSchedule = cj.status?.lastScheduleTime;
    let lastSuccessful = cj.status?.lastSuccessfulTime;
    for (const j of jobs) {
      const done = j.status?.completionTime;
      if (jobFinished(j) === 'Complete' && done && (!lastSuccessful || done > lastSuccessful)) lastSuccessful = done;
    }
    const schedule = parseCronSchedule(cj.spec?.schedule ?? '');
    if (typeof schedule !== 'string' && !cj.spec?.suspend) {
      const since = Date.parse(lastSchedule ?? cj.metadata.creationTimestamp ?? '') || now;
      // the most recent missed time, like upstream mostRecentScheduleTime
      let due: Date | undefined;
      for (let t = nextCronTime(schedule, new Date(since)); t && t.getTime() <= now; t = nextCronTime(schedule, t)) due = t;
      const deadline = cj.spec?.startingDeadlineSeconds;
      const tooLate = due && deadline !== undefined && deadline !== null && now - due.getTime() > deadline * 1000;
      if (due && !tooLate) {
        const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
        let run = true;
        if (policy === 'Forbid' && active.length > 0) run = false;
        if (policy === 'Replace') {
          for (const j of active) {
            await client.delete(Resources.jobs, j.metadata.name ?? '', { namespace, signal, propagationPolicy: 'Background' }).catch((err: unknown) => {
              if (!isHedgeError(err, 'NotFound')) throw err;
            });
          }
        }
        if (run) {
          const jobName = `${name}-${Math.floor(due.getTime() / 60_000)}`;
          const tmpl = cj.spec?.jobTemplate;
          const job: JobObject = {
            apiVersion: 'batch/v1',
            kind: 'Job',
            metadata: {
              name: jobName,
              namespace,
              labels: { ...tmpl?.metadata?.labels },
              annotations: { ...tmpl?.metadata?.annotations, [SCHEDULED_ANNOTATION]: due.toISOString().replace(/\.\d{3}Z$/, 'Z') },
              ownerReferences: [controllerRef(cj, Resources.cronjobs)],
            },
            spec: structuredClone(tmpl?.spec ?? { template: {} }),
          };
          try {
            await client.create(Resources.jobs, job, { signal, fieldManager: 'cronjob-controller' });
            void this.#events.record({ involved: cj, type: 'Normal', reason: 'SuccessfulCreate', message: `Created job ${jobName}` });
          } catch (err) {
            if (!isHedgeError(err, 'AlreadyExists')) throw err;
          }
          lastSchedule = formatTime(due.getTime());
        }
      }
      const next = nextCronTime(schedule, new Date(now));
      if (next) this.queue.addAfter(key, next.getTime() - now + 100);
    }
    // history limits: oldest finished Jobs beyond the limit go
    const trim = async (kind: 'Complete' | 'Failed', limit: number): Promise<void> => {
      const finished = jobs.filter((j) => jobFinished(j) === kind).sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
      for (const j of finished.slice(0, Math.max(0, finished.length - limit))) {
        await client.delete(Resources.jobs, j.metadata.name ?? '', { namespace, signal, propagationPolicy: 'Background' }).catch((err: unknown) => {
          if (!isHedgeError(err, 'NotFound')) throw err;
        });
      }
    };
    await trim('Complete', cj.spec?.successfulJobsHistoryLimit ?? 3);
    await trim('Failed', cj.spec?.failedJobsHistoryLimit ?? 1);
    const activeRefs: ObjectReference[] = this.#jobs
      .list()
      .filter((j) => j.metadata.namespace === namespace && controllerOf(j)?.uid === cj.metadata.uid && !jobFinished(j))
      .map((j) => ({ apiVersion: 'batch/v1', kind: 'Job', name: j.metadata.name, namespace, uid: j.metadata.uid, resourceVersion: j.metadata.resourceVersion }));
    const status = { active: activeRefs.length ? activeRefs : null, lastScheduleTime: lastSchedule ?? null, lastSuccessfulTime: lastSuccessful ?? null };
    const cur = { active: cj.status?.active?.length ? cj.status.active : null, lastScheduleTime: cj.status?.lastScheduleTime ?? null, lastSuccessfulTime: cj.status?.lastSuccessfulTime ?? null };
    const names = (s: typeof status): string => JSON.stringify([(s.active ?? []).map((a) => a.name), s.lastScheduleTime, s.lastSuccessfulTime]);
    if (names(status) !== names(cur)) {
      await client.patch(Resources.cronjobs, name, 'merge', { status }, { namespace, subresource: 'status', signal, fieldManager: 'cronjob-controller' }).catch((err: unknown) => {
        if (!isHedgeError(err, 'NotFound')) throw err;
      });
    }
  }
}
