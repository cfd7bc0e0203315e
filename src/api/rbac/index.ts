export { apiGroupMatches, describeRule, nonResourceURLMatches, resourceMatches, resourceNameMatches, ruleAllows, rulesAllow, verbMatches, type RuleRequest } from './rules.ts';
export { parseServiceAccountUsername, serviceAccountUsername, subjectKey, subjectsApply, userKeys, SERVICE_ACCOUNT_USER_PREFIX } from './subjects.ts';
export { breakdownRule, covers, ruleCovers } from './covers.ts';
export { aggregatedRules } from './aggregate.ts';
export { AGGREGATE_TO_ADMIN, AGGREGATE_TO_EDIT, AGGREGATE_TO_VIEW, bootstrapClusterRoleBindings, bootstrapClusterRoles } from './bootstrap-policy.ts';
