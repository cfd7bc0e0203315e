export { CelBudget, CelBudgetExceeded } from './budget.ts';
export { CelEnvironment, CelEvalError, type CelProgram, type CelVariables, type CompileResult } from './environment.ts';
