export { apiAccessReviews, type AccessDecision, type AccessReviews, type NodeUser } from './access-reviews.ts';
export { DEFAULT_NODE_AUTH_TUNING, LOCAL_HUB_USER, MASTERS_GROUP, NodeRequestAuth, type NodeAuthTuning, type NodeRequestAuthOptions } from './node-auth.ts';
export { isSubpath, nodeRequestAttributes, type NodeRequestAttributes, type NodeSubresource } from './request-attributes.ts';
export { ReviewCache } from './review-cache.ts';
