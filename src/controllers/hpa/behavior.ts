/**
 * HPA v2 `behavior`: the stabilization windows (scale up to the lowest and down to the highest
 * recommendation of the window) and the rate policies, with upstream's defaults (scale up: 4 pods
 * or 100% per 15 s, whichever is more, no window; scale down: 100% per 15 s after a 300 s window).
 */
import type { HPAScalingRules, HorizontalPodAutoscalerBehavior } from 'kubernetes-types/autoscaling/v2.js';

export interface TimedValue {
  at: number;
  replicas: number;
}

export const DEFAULT_SCALE_UP: Required<Pick<HPAScalingRules, 'stabilizationWindowSeconds' | 'selectPolicy' | 'policies'>> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: Required<Pick<HPAScalingRules, 'stabilizationWindowSeconds' | 'selectPolicy' | 'policies'>> = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

export function rulesOf(b: HorizontalPodAutoscalerBehavior | undefined): { up: typeof DEFAULT_SCALE_UP; down: typeof DEFAULT_SCALE_DOWN } {
  const merge = (r: HPAScalingRules | undefined, d: typeof DEFAULT_SCALE_UP): typeof DEFAULT_SCALE_UP => ({
    stabilizationWindowSeconds: r?.stabilizationWindowSeconds ?? d.stabilizationWindowSeconds,
    selectPolicy: r?.selectPolicy ?? d.selectPolicy,
    policies: r?.policies && r.policies.length > 0 ? r.policies : d.policies,
  });
  return { up: merge(b?.scaleUp, DEFAULT_SCALE_UP), down: merge(b?.scaleDown, DEFAULT_SCALE_DOWN) };
}

/** stabilizeRecommendationWithBehaviors: bounded by the window's recommendations (the new one included) */
export function stabilize(opts: { now: number; current: number; recommended: number; history: TimedValue[]; upWindowS: number; downWindowS: number }): number {
  let up = opts.recommended;
  let down = opts.recommended;
  const upCutoff = opts.now - opts.upWindowS * 1000;
  const downCutoff = opts.now - opts.downWindowS * 1000;
  for (const r of opts.history) {
    if (r.at > upCutoff) up = Math.min(up, r.replicas);
    if (r.at > downCutoff) down = Math.max(down, r.replicas);
  }
  let out = opts.current;
  if (out < up) out = up;
  if (out > down) out = down;
  return out;
}

/** replicas changed within the period (positive: added) */
function changedSince(events: TimedValue[], since: number, sign: 1 | -1): number {
  return events.filter((e) => e.at > since && Math.sign(e.replicas) === sign).reduce((s, e) => s + Math.abs(e.replicas), 0);
}

/** convertDesiredReplicasWithBehaviorRate: the rate policies over each policy's period */
export function limitRate(opts: { now: number; current: number; desired: number; rules: ReturnType<typeof rulesOf>; events: TimedValue[] }): number {
  const { now, current, desired, rules, events } = opts;
  if (desired > current) {
    if (rules.up.selectPolicy === 'Disabled') return current;
    const limits = rules.up.policies.map((p) => {
      const start = current - changedSince(events, now - p.periodSeconds * 1000, 1);
      return p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    });
    const limit = rules.up.selectPolicy === 'Min' ? Math.min(...limits) : Math.max(...limits);
    return Math.min(desired, Math.max(limit, current));
  }
  if (desired < current) {
    if (rules.down.selectPolicy === 'Disabled') return current;
    const limits = rules.down.policies.map((p) => {
      const start = current + changedSince(events, now - p.periodSeconds * 1000, -1);
      return p.type === 'Pods' ? start - p.value : Math.ceil(start * (1 - p.value / 100));
    });
    // Max picks the policy allowing the biggest change: the lowest floor
    const limit = rules.down.selectPolicy === 'Min' ? Math.max(...limits) : Math.min(...limits);
    return Math.max(desired, Math.min(limit, current));
  }
  return current;
}
