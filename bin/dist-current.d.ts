/** see dist-current.js */
export declare function distIsCurrent(root: string): boolean;
