/** The controllers write events through the one recorder in src/client (folding repeats). */
export { EventRecorder, type EventInput } from '../../client/event-recorder.ts';
