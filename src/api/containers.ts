import type { Container } from 'kubernetes-types/core/v1.js';

/** a sidecar: an init container with restartPolicy Always, kept running beside the app containers (upstream's IsRestartableInitContainer) */
export const isRestartableInit = (c: Container | undefined): boolean => c?.restartPolicy === 'Always';
