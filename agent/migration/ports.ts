/**
 * The interfaces the migration core needs from the outside world. Adapters
 * implement them (agent/hypervisor over the libvirt client, agent/peers over
 * gRPC, agent/firewall for pinholes, agent/host for the network); the core
 * never imports an adapter, and tests of pure logic use small fakes.
 * Each port is in ports/, with the types it speaks; this file gathers them,
 * so that the core and index.ts import the ports from one place.
 */
export * from './tracing.js';
export * from './ports/vm.js';
export * from './ports/hypervisor.js';
export * from './ports/peers.js';
export * from './ports/storage.js';
export * from './ports/volumes.js';
export * from './ports/network.js';
export * from './ports/pinholes.js';
export * from './ports/journal.js';
export * from './ports/clock.js';
