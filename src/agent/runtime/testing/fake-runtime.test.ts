/** The fake the agent tests use passes the same RuntimeHandler contract as runc, runsc, crun and the microVM. */
import { PassThrough } from 'node:stream';
import { EXEC_PROBE, runRuntimeContract, type Workload } from '../contract.ts';
import type { ContainerConfig, SandboxId } from '../types.ts';
import { containerConfig, sandboxConfig } from '../oci/test-support.ts';
import { FakeRuntime, type FakeBehavior } from './fake-runtime.ts';

function behavior(w: Workload): FakeBehavior {
  switch (w.kind) {
    case 'exit':
      return { kind: 'exit', code: w.code };
    case 'message':
      return { kind: 'exit', code: w.code, message: `${'x'.repeat(w.fill)}${w.text}\n` };
    case 'run':
      return { kind: 'run', termExitCode: 143 };
    case 'ignore-term':
      return { kind: 'run' };
    case 'busy':
      return { kind: 'run', termExitCode: 143, busy: true };
    default: {
      const never: never = w;
      throw new Error(`unknown workload ${JSON.stringify(never)}`);
    }
  }
}

runRuntimeContract('fake', async () => {
  const fake = new FakeRuntime();
  fake.execResult = (_cfg, req) => {
    if (req.command.join(' ') !== EXEC_PROBE.join(' ')) return 0;
    (req.stdout as PassThrough | undefined)?.write('hi\n');
    (req.stderr as PassThrough | undefined)?.write('oops\n');
    return 7;
  };
  const sandboxId = 'sb-fake' as SandboxId;
  return {
    handler: fake,
    sandbox: sandboxConfig({ id: sandboxId, stateDir: '/nonexistent/fake', cgroupParent: 'hedge/fake' }),
    container: ({ id, workload, labels, annotations }): ContainerConfig => {
      const cfg = { ...containerConfig({ id, sandboxId, rootfs: '/nonexistent', command: [], logPath: '/nonexistent.log' }), labels, annotations };
      fake.behaviors.set(cfg.name, behavior(workload));
      return cfg;
    },
    cleanup: async () => {},
  };
});
