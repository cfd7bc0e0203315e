import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

export type { ObjectMeta };

/** kubernetes-types marks every field readonly; the server and fakes build and edit objects. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Any Kubernetes object as the apiserver handles it: JSON with apiVersion/kind/metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: Mutable<ObjectMeta>;
  [field: string]: unknown;
}

/** JSON value (what bodies and patches are made of). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON object (not null, not an array), narrowing without losing the declared type. */
export function present<T>(v: T | null | undefined): v is T {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
