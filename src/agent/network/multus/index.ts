export { MultusNetworkPlugin, type MultusOptions, type NadSource, type NetworkAttachmentDefinition } from './multus-network.ts';
export { KernelLinkKinds, PLUGIN_LINK_KIND, type LinkKinds } from './link-kinds.ts';
export { NadFirewall, NAD_TABLE, renderNadTables, nadScript, type NadSandbox, type NadInterface, type NadFirewallOptions } from './nad-firewall.ts';
