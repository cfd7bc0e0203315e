export { CidrAllocator, formatIpv4Cidr, parseIpv4Cidr, type CidrAllocatorOptions, type Ipv4Cidr } from './cidr-allocator.ts';
export { formatClusterCidrs, parseClusterCidrs } from './cluster-cidrs.ts';
export { NodeIpamController, type NodeIpamConfig } from './controller.ts';
