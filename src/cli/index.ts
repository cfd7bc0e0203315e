// main.ts is the executable entry (it exits the process); this is the importable face.
export { createProgram } from './program.ts';
export { startServer, type RunningServer } from './start-server.ts';
export { resolveServerSettings, SERVER_DEFAULTS, type ServerSettings, type ServerDefaults, type LogLevel } from './server-config.ts';
export { parseListenAddress, formatHostPort, type ListenAddress } from './listen-address.ts';
