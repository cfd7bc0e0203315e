import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APIC_TIMER_HZ, PAGE_REPORTING_ORDER, qemuArgs, SERIAL_MAX_PORTS, TCG_TB_SIZE_MIB, TCG_TB_SIZE_MIB_TAILORED, VIRTQUEUE_SIZE_TAILORED, virtioSlots, virtioSlotsUsed, type VmLaunchOptions } from './vm.ts';

const base: VmLaunchOptions = {
  qemuBinary: 'qemu-system-x86_64',
  name: 'hedge-x',
  dir: '/state/sandboxes/x',
  qmpSocket: '/state/s/a.qmp',
  agentSocket: '/state/s/a.agent',
  accelerator: 'kvm',
  memoryMiB: 128,
  cpus: 1,
  guest: { vmlinux: '/g/vmlinux', initrd: '/g/initrd.gz', kernelVersion: '6.1' },
  seccomp: true,
};

const after = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));

test('the sandbox disk is a virtio-blk drive that can hand freed blocks back; the volume share is read-only 9p', () => {
  const args = qemuArgs({ ...base, disk: '/state/sandboxes/x/disk.ext4', volumeShare: '/data/pods/u,1/volumes' });
  assert.deepEqual(after(args, '-drive'), ['if=none,id=sbxdisk,format=raw,discard=unmap,file=/state/sandboxes/x/disk.ext4']);
  // a comma in a path is doubled, or qemu would read the rest as options
  assert.deepEqual(after(args, '-fsdev'), ['local,id=vols,path=/data/pods/u,,1/volumes,security_model=none,readonly=on,multidevs=remap']);
  assert.deepEqual(after(args, '-device').filter((d) => /blk|9p/.test(d)), ['virtio-blk-device,drive=sbxdisk', 'virtio-9p-device,fsdev=vols,mount_tag=hedgevol']);
});

test('each PVC is its own 9p share: mapped-xattr (no guest-made setuid, device or symlink on the host), read-only claims read-only', () => {
  const args = qemuArgs({ ...base, claims: [{ tag: 'pvc0', hostPath: '/data/local-path/a,b', readOnly: false }, { tag: 'pvc1', hostPath: '/srv/ro', readOnly: true }] });
  assert.deepEqual(after(args, '-fsdev'), [
    'local,id=pvc0,path=/data/local-path/a,,b,security_model=mapped-xattr,fmode=0666,dmode=0777,multidevs=remap',
    'local,id=pvc1,path=/srv/ro,security_model=mapped-xattr,fmode=0666,dmode=0777,multidevs=remap,readonly=on',
  ]);
  assert.deepEqual(after(args, '-device').filter((d) => /9p/.test(d)), ['virtio-9p-device,fsdev=pvc0,mount_tag=pvc0', 'virtio-9p-device,fsdev=pvc1,mount_tag=pvc1']);
  assert.equal(virtioSlotsUsed(args), virtioSlotsUsed(qemuArgs(base)) + 2, 'each share takes a virtio-mmio transport');
});

test('without a disk or share qemu gets neither device', () => {
  const args = qemuArgs(base);
  assert.deepEqual(after(args, '-drive'), []);
  assert.deepEqual(after(args, '-fsdev'), []);
});

test('the tailored guest kernel boots without ACPI (devices on the command line); Debian keeps it', () => {
  assert.deepEqual(after(qemuArgs({ ...base, guest: { ...base.guest, kernel: 'tailored' } }), '-M'), ['microvm,memory-backend=mem,acpi=off']);
  assert.deepEqual(after(qemuArgs({ ...base, guest: { ...base.guest, kernel: 'debian' } }), '-M'), ['microvm,memory-backend=mem']);
  assert.deepEqual(after(qemuArgs(base), '-M'), ['microvm,memory-backend=mem']);
});

test('every VM has a free-page-reporting balloon, and TCG a bounded translation cache', () => {
  assert.ok(after(qemuArgs(base), '-device').includes('virtio-balloon-device,free-page-reporting=on'));
  assert.deepEqual(after(qemuArgs({ ...base, accelerator: 'tcg' }), '-accel'), [`tcg,tb-size=${TCG_TB_SIZE_MIB}`]);
  assert.deepEqual(after(qemuArgs({ ...base, accelerator: 'tcg', guest: { ...base.guest, kernel: 'tailored' } }), '-accel'), [`tcg,tb-size=${TCG_TB_SIZE_MIB_TAILORED}`]);
  assert.deepEqual(after(qemuArgs(base), '-accel'), ['kvm']);
});

test('virtio-serial has the agent\'s port and no 29 unused ones (SERIAL_MAX_PORTS), unless tuned', () => {
  assert.ok(after(qemuArgs(base), '-device').includes(`virtio-serial-device,max_ports=${SERIAL_MAX_PORTS}`));
  assert.ok(after(qemuArgs({ ...base, tuning: { serialMaxPorts: 31 } }), '-device').includes('virtio-serial-device,max_ports=31'));
});

test('virtio-mmio transports: serial, SCSI, balloon, disk and share take 5 of 8 (tailored, no ACPI) or 24; each NIC one more', () => {
  const full = { ...base, disk: '/d', volumeShare: '/v' };
  assert.equal(virtioSlotsUsed(qemuArgs(full)), 5);
  assert.equal(virtioSlots({ ...base.guest, kernel: 'tailored' }) - virtioSlotsUsed(qemuArgs(full)), 3);
  assert.equal(virtioSlots(base.guest), 24);
  const nic = (i: number): NonNullable<VmLaunchOptions['nics']>[number] => ({ podInterface: i ? `net${i}` : 'eth0', tap: `hedgetap${i}`, mac: `02:00:00:00:00:0${i}`, mtu: 1500 });
  assert.equal(virtioSlotsUsed(qemuArgs({ ...full, nics: [nic(0), nic(1), nic(2)] })), 8);
});

test('the guest reports free pages down to PAGE_REPORTING_ORDER (init.sh applies it); no balloon, no order', () => {
  assert.match(after(qemuArgs(base), '-append')[0] ?? '', new RegExp(`(^| )page_reporting\\.page_reporting_order=${PAGE_REPORTING_ORDER}( |$)`));
  assert.match(after(qemuArgs({ ...base, tuning: { pageReportingOrder: 9 } }), '-append')[0] ?? '', / page_reporting\.page_reporting_order=9( |$)/);
  const off = qemuArgs({ ...base, tuning: { freePageReporting: false } });
  assert.doesNotMatch(after(off, '-append')[0] ?? '', /page_reporting/);
  assert.ok(!after(off, '-device').some((d) => d.startsWith('virtio-balloon')));
});

test('the tailored kernel gets smaller virtqueues, no initial SCSI scan and the APIC timer\'s frequency; Debian\'s kernel none (it has no such knobs)', () => {
  const tailored = { ...base, guest: { ...base.guest, kernel: 'tailored' as const } };
  const cmdline = (o: VmLaunchOptions): string => after(qemuArgs(o), '-append')[0] ?? '';
  assert.match(cmdline(tailored), new RegExp(`(^| )virtio_mmio\\.queue_num_max=${VIRTQUEUE_SIZE_TAILORED}( |$)`));
  assert.match(cmdline(tailored), /(^| )scsi_mod\.scan=manual( |$)/);
  assert.match(cmdline(tailored), new RegExp(`(^| )lapic_timer_frequency=${APIC_TIMER_HZ}( |$)`));
  assert.doesNotMatch(cmdline(base), /queue_num_max|scsi_mod|lapic_timer_frequency/);
  const previous = cmdline({ ...tailored, tuning: { virtqueueSize: 0, scsiInitialScan: true } });
  assert.doesNotMatch(previous, /queue_num_max|scsi_mod/);
  assert.match(cmdline({ ...tailored, tuning: { virtqueueSize: 128 } }), / virtio_mmio\.queue_num_max=128( |$)/);
});
