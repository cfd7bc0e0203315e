import { EvaluationError } from '@marcbachmann/cel-js';

/** An evaluation error the way the evaluator reports its own (a rule sees it as "<message> evaluating rule: ..."). */
export function celError(message: string): EvaluationError {
  return new EvaluationError(message);
}
