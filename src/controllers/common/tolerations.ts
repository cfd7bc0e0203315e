/** the toleration helpers live in api/ (the agent's admission reads them too) */
export { findToleration, toleratesTaint } from '../../api/tolerations.ts';
