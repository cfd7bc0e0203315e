export { attributesFromReview, reviewDef, reviewsProvider } from './reviews-provider.ts';
