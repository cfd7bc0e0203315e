export * from './names.ts';
export * from './claims.ts';
