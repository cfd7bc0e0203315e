export { decodeFrame, encodeFrame, type Frame, type FrameType } from './frame.ts';
export { MuxSession, MuxStream, type FrameLink, type MuxSessionOptions } from './mux-session.ts';
export { closeSocket, HEARTBEAT_HEADER, HEARTBEAT_RANGE, MUX_MAX_FRAME, wsMuxSession } from './ws-link.ts';
