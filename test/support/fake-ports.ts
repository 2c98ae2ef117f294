// Small in-memory stand-ins for the migration core's ports, for unit tests of
// its pure logic only (the real adapters are tested on the lab). One file per
// port in fake-ports/; this file gathers them, so that tests import them from
// one place.
export * from './fake-ports/hypervisor.js';
export * from './fake-ports/peers.js';
export * from './fake-ports/network.js';
export * from './fake-ports/pinholes.js';
export * from './fake-ports/storage.js';
export * from './fake-ports/clocks.js';
export * from './fake-ports/volumes.js';
