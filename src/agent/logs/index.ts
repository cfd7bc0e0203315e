export {
  readCriLog,
  parseCriLine,
  formatCriLine,
  type CriLogLine,
  type CriLogPaths,
  type LogStream,
  type ReadCriLogOptions,
} from './cri-log.ts';
export { CriLogRotator, type CriLogRotatorOptions, type RotateTarget } from './rotator.ts';
export { LogRotationManager, type LogRotationOptions, type LogRotationSource } from './rotation-manager.ts';
