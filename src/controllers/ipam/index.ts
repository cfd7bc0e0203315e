export { CidrAllocator, formatIpv4Cidr, parseIpv4Cidr, type CidrAllocatorOptions, type Ipv4Cidr } from './cidr-allocator.ts';
export { NodeIpamController, type NodeIpamConfig } from './controller.ts';
