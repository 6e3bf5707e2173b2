/** The gRPC method the origins serve and the clients call: raw bytes, no protobuf needed. */
export const GRPC_METHOD = '/bench.Echo/Unary';
const identity = (b: Buffer) => b;
export const ECHO_SERVICE = {
  Unary: { path: GRPC_METHOD, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
} as const;
