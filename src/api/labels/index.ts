export {
  everything,
  isEverything,
  matches,
  newRequirement,
  nothing,
  parseSelector,
  requirementMatches,
  selectorFromLabelSelector,
  selectorFromSet,
  selectorToString,
  type Labels,
  type Operator,
  type Requirement,
  type Selector,
} from './selector.ts';
export { validateLabelSelector, validateLabels } from './validate.ts';
