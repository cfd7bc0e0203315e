/**
 * Prometheus HTTP service discovery of the nodes (`http_sd_configs`), for Prometheus builds
 * without `kubernetes_sd_configs` (Debian's 2.42 has no client-go). One target group per node,
 * labelled with what kubernetes_sd's `node` role sets, so the usual relabelling to
 * `/api/v1/nodes/${name}/proxy/metrics/cadvisor` works unchanged. The target is the apiserver
 * itself (as the Host the scraper used): the node is scraped through nodes/proxy, which follows
 * the node's tunnel, so edge nodes behind NAT are scraped too.
 *
 * Served at a non-resource path; it is authorized as `list nodes` (what it discloses), not as a
 * non-resource URL, so a node-role scraper's ClusterRole needs nothing new.
 */
import type { Node } from 'kubernetes-types/core/v1.js';
import type { ServerResponse } from 'node:http';
import { sendJson } from './handlers/respond.ts';

export const PROMETHEUS_SD_NODES_PATH = '/prometheus/sd/nodes';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Prometheus' strutil.SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes `_`. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** kubernetes_sd node role's meta labels, the target being `target` (the apiserver's host:port). */
export function nodeTargetGroups(nodes: readonly Node[], target: string): TargetGroup[] {
  return nodes.map((n) => {
    const name = n.metadata?.name ?? '';
    const labels: Record<string, string> = { __meta_kubernetes_node_name: name };
    for (const [k, v] of Object.entries(n.metadata?.labels ?? {})) {
      labels[`__meta_kubernetes_node_label_${sanitizeLabelName(k)}`] = v;
      labels[`__meta_kubernetes_node_labelpresent_${sanitizeLabelName(k)}`] = 'true';
    }
    for (const [k, v] of Object.entries(n.metadata?.annotations ?? {})) {
      labels[`__meta_kubernetes_node_annotation_${sanitizeLabelName(k)}`] = v;
      labels[`__meta_kubernetes_node_annotationpresent_${sanitizeLabelName(k)}`] = 'true';
    }
    // upstream: the first address of each type
    for (const a of n.status?.addresses ?? []) {
      const key = `__meta_kubernetes_node_address_${sanitizeLabelName(a.type)}`;
      if (!(key in labels)) labels[key] = a.address;
    }
    if (n.spec?.providerID) labels.__meta_kubernetes_node_provider_id = n.spec.providerID;
    return { targets: [target], labels };
  });
}

export function servePrometheusSd(res: ServerResponse, nodes: readonly Node[], target: string): void {
  sendJson(res, 200, nodeTargetGroups(nodes, target));
}
