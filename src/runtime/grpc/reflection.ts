// gRPC server reflection (grpc.reflection.v1 and v1alpha, from @grpc/reflection): generic tools
// (grpcurl, Postman, grpc_cli) list a node's services and call RaftClient.ServeClient without a
// copy of proto/raft.proto. The descriptors come from proto/raft.proto itself and from the health
// service's own .proto, loaded with @grpc/proto-loader when the node starts.

import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Server } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

/** proto/raft.proto of this package (dist/runtime/grpc/ and src/runtime/grpc/ are three levels down). */
export const RAFT_PROTO_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../proto/raft.proto");

export function addReflection(server: Server): void {
  const definition = loadSync([RAFT_PROTO_PATH, healthProtoPath], { keepCase: true });
  new ReflectionService(definition).addToServer(server);
}
