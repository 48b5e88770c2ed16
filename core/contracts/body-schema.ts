/**
 * Request body schemas (JSON Schema draft 2020-12). Each route's schema is compiled once, when the
 * routes file is linted; a request only runs the compiled function. A body that is not JSON, or
 * does not match, is refused with 422 `invalid_body` before anything is published.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { BusgateError } from '../errors.js';

/** At most this many failing places are listed in an answer, each cut to this many characters. */
export const MAX_REPORTED_PROBLEMS = 5;
const MAX_TEXT = 200;

export interface BodyProblem {
  /** JSON pointer (RFC 6901) into the body; "" is the body itself. */
  readonly pointer: string;
  readonly problem: string;
}

export interface BodySchema {
  /** The schema file as written in routes.yaml, or "inline". */
  readonly source: string;
  /** The schema document, for OpenAPI and AsyncAPI. */
  readonly document: Readonly<Record<string, unknown>>;
  /** Problems of one JSON value, in document order; empty when it matches. */
  check(value: unknown): readonly BodyProblem[];
}

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

/**
 * allErrors lists every failing place, not only the first; the body limit bounds the work and the
 * answer lists only the first few. Unknown keywords are an error (strict), so a typo in a schema
 * is found by the linter rather than silently accepting everything.
 */
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true, strictRequired: false, strictTypes: false, allowUnionTypes: true }));

/** Compiles a schema document, or says why it cannot be used. */
export function compileBodySchema(source: string, document: unknown): BodySchema | { readonly problem: string } {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    if (typeof document === 'boolean') return { problem: 'a boolean schema accepts everything or nothing; write an object schema' };
    return { problem: 'a JSON Schema must be an object' };
  }
  let validate: ValidateFunction;
  try {
    // Each route compiles its own copy; $id clashes between two files must not fail the second.
    const { $id: _id, ...rest } = document as Record<string, unknown>;
    validate = ajv.compile(rest);
  } catch (error) {
    return { problem: error instanceof Error ? error.message.split('\n')[0]!.slice(0, MAX_TEXT) : String(error) };
  }
  return {
    source,
    document: document as Record<string, unknown>,
    check(value: unknown): readonly BodyProblem[] {
      if (validate(value)) return [];
      return (validate.errors ?? []).slice(0, MAX_REPORTED_PROBLEMS).map(describe);
    },
  };
}

function describe(error: ErrorObject): BodyProblem {
  let pointer = error.instancePath;
  let problem = error.message ?? 'is invalid';
  if (error.keyword === 'additionalProperties' || error.keyword === 'unevaluatedProperties') {
    const name = String(
      (error.params as { additionalProperty?: unknown; unevaluatedProperty?: unknown }).additionalProperty ??
        (error.params as { unevaluatedProperty?: unknown }).unevaluatedProperty,
    );
    pointer = `${pointer}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    problem = 'is not allowed here';
  } else if (error.keyword === 'required') {
    const name = String((error.params as { missingProperty?: unknown }).missingProperty);
    pointer = `${pointer}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    problem = 'is required';
  }
  return { pointer: pointer.slice(0, MAX_TEXT), problem: problem.slice(0, MAX_TEXT) };
}

/** Parses and checks one JSON body; throws 422 invalid_body with the failing pointers. */
export function checkJsonBody(schema: BodySchema, payload: Buffer, where = ''): unknown {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message.slice(0, MAX_TEXT) : 'cannot be parsed';
    throw new BusgateError('invalid_body', `${where}the body is not valid JSON: ${reason}`, { details: [{ pointer: '', problem: 'is not valid JSON' }] });
  }
  const problems = schema.check(value);
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new BusgateError('invalid_body', `${where}the body does not match the route's schema: ${first.pointer || '(the body)'} ${first.problem}`, {
      details: problems,
    });
  }
  return value;
}
