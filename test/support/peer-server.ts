// A PeerService on 127.0.0.1 answering as the test says: the far end of a GrpcPeers call, for
// tests of what crosses the wire between two agents.
import * as grpc from '@grpc/grpc-js';
import { loadFerryProto } from '../../shared/proto.js';

export async function servePeer(peer: grpc.UntypedServiceImplementation): Promise<{ address: string; stop: () => void }> {
  const server = new grpc.Server();
  server.addService(loadFerryProto().grpcObject.ferry.v1.PeerService.service, peer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}
