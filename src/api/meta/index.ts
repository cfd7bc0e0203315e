export * from './field-errors.ts';
export * from './name-formats.ts';
export * from './name.ts';
export * from './object-meta.ts';
export * from './quantity.ts';
