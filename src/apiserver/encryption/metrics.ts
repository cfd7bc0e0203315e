import { Counter, type Registry } from '../../lib/prom.ts';
import type { TransformMetrics } from './transformer.ts';

/**
 * apiserver_storage_transformation_operations_total as upstream (storage/value/metrics.go):
 * transformer_prefix is the key's full prefix (`k8s:enc:aescbc:v1:key1:`), `identity`, or
 * `unknown` for a value no prefix matched; status is a gRPC code name like upstream's
 * (`OK`, else `Unknown`: no error here carries another).
 */
export function transformationMetrics(registry: Registry): TransformMetrics {
  const ops = new Counter({
    name: 'apiserver_storage_transformation_operations_total',
    help: 'Total number of transformations. Successful transformation will have a status \'OK\' and a varied status string when the transformation fails.',
    labelNames: ['transformation_type', 'transformer_prefix', 'status'] as const,
    registers: [registry],
  });
  return {
    record(type, transformerPrefix, ok) {
      ops.inc({ transformation_type: type, transformer_prefix: transformerPrefix, status: ok ? 'OK' : 'Unknown' });
    },
  };
}
