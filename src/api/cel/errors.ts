import type { EvaluationError } from '@marcbachmann/cel-js';
import { celJs } from './cel-js.ts';

/** An evaluation error the way the evaluator reports its own (a rule sees it as "<message> evaluating rule: ..."). */
export function celError(message: string): EvaluationError {
  return new (celJs().EvaluationError)(message);
}
