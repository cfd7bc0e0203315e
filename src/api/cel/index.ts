export { CelBudget, CelBudgetExceeded } from './budget.ts';
export { CelEnvironment, CelEvalError, type CelProgram, type CelVariables, type CompileResult } from './environment.ts';
export { ADMISSION_PER_CALL_LIMIT, ADMISSION_REQUEST_BUDGET, ADMISSION_TIMEOUT_MS, admissionVariables, compileAdmissionExpression, jsonToCel, sharedCelEnvironment, variableNames, type AdmissionCelOptions, type AdmissionCompileResult } from './admission.ts';
