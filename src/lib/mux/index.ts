export { decodeFrame, encodeFrame, type Frame, type FrameType } from './frame.ts';
export { MuxSession, MuxStream, type FrameLink, type MuxSessionOptions } from './mux-session.ts';
