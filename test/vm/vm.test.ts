/**
 * Every test of the cgroup v2 test machine (README.md), in one process so they run one after
 * another: each boots a TCG VM under the machine's bench lock and keeps a core busy, so as separate
 * files run side by side by the test runner, one would hold a runner slot idle waiting for the lock.
 */
import './host-vm.cases.ts';
import './cgroup-v2.cases.ts';
import './node-in-vm.cases.ts';
