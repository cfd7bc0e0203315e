// Images built from Debian binaries (busybox-static) and a local docker-registry to serve them:
// the `hedge up` demo uses them on machines that reach no public registry, and so do the tests.
export * from './build.ts';
export * from './registry.ts';
export { writeTar, type TarEntry } from './tar-writer.ts';
