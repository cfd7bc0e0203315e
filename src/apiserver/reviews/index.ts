export { attributesFromReview, reviewDef, reviewsProvider } from './reviews-provider.ts';
export { tokenReviewer, type TokenReviewer } from './token-review.ts';
