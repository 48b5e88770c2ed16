/**
 * Validation of plugin options and route options against the JSON Schemas that plugins declare.
 * One ajv instance; compiled validators are cached per schema object.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { JsonSchema } from './contract.js';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

export interface OptionProblem {
  /** Path inside the options object, e.g. ["batch", "lingerMs"]; empty for the object itself. */
  readonly path: readonly string[];
  readonly message: string;
}

/** Validates (and fills defaults into) a copy of the options. */
export function validateOptions(schema: JsonSchema, options: Readonly<Record<string, unknown>>): { value: Record<string, unknown>; problems: OptionProblem[] } {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema as Record<string, unknown>);
    compiled.set(schema, validate);
  }
  const value = structuredClone(options) as Record<string, unknown>;
  if (validate(value)) return { value, problems: [] };
  return { value, problems: (validate.errors ?? []).map(toProblem) };
}

function toProblem(error: ErrorObject): OptionProblem {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'additionalProperties') {
    const extra = String((error.params as { additionalProperty?: unknown }).additionalProperty);
    return { path: [...path, extra], message: `unknown option "${extra}"` };
  }
  const where = path.length > 0 ? `"${path.join('.')}" ` : '';
  return { path, message: `${where}${error.message ?? 'is invalid'}` };
}
