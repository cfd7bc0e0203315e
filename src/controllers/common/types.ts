import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';

/** kubernetes-types marks metadata optional; objects from the API always carry it. */
export type PodObject = Pod & KubeObject;
export type NodeObject = Node & KubeObject;
