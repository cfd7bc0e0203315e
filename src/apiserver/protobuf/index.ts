export { decodeKubeProtobuf, isProtobufEnvelope } from './decode.ts';
export { protobufKinds } from './schemas.ts';
