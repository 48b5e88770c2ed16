/**
 * Destination and key templates: literal text with `{param}` (a path parameter) and
 * `{header.name}` (a request header) placeholders. Compiled once at start; rendering is a loop
 * over parts, and every rendered value must be one safe token for the broker, so a client can
 * never add a subject separator, a wildcard or a reserved prefix.
 */
import { BusgateError } from '../errors.js';

export type TemplatePart =
  { readonly kind: 'literal'; readonly text: string } | { readonly kind: 'param'; readonly name: string } | { readonly kind: 'header'; readonly name: string };

export interface Template {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** True when the template has no placeholder: render() returns the text as it is. */
  readonly isStatic: boolean;
}

export interface TemplateInputs {
  readonly params: Readonly<Record<string, string | string[] | undefined>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Compiles a template or returns what is wrong with it. */
export function parseTemplate(source: string): Template | { problem: string } {
  if (source.length === 0) return { problem: 'a template cannot be empty' };
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const literal = source.slice(last, match.index);
    if (/[{}]/.test(literal)) return { problem: `unbalanced brace in "${source}"` };
    if (literal) parts.push({ kind: 'literal', text: literal });
    const inner = match[1]!.trim();
    if (inner.startsWith('header.')) {
      const name = inner.slice('header.'.length).toLowerCase();
      if (!HEADER_NAME.test(name)) return { problem: `"{${inner}}" does not name a valid header` };
      parts.push({ kind: 'header', name });
    } else if (PARAM_NAME.test(inner)) {
      parts.push({ kind: 'param', name: inner });
    } else {
      return { problem: `"{${inner}}" is neither {param} nor {header.name}` };
    }
    last = match.index + match[0].length;
  }
  const tail = source.slice(last);
  if (/[{}]/.test(tail)) return { problem: `unbalanced brace in "${source}"` };
  if (tail) parts.push({ kind: 'literal', text: tail });
  return { source, parts, isStatic: parts.every((part) => part.kind === 'literal') };
}

export function isTemplate(value: Template | { problem: string }): value is Template {
  return 'parts' in value;
}

/** Conservative default: letters, digits, `_` and `-`; safe on NATS, AMQP and Kafka alike. */
export function isDefaultSafeToken(value: string): boolean {
  return /^[A-Za-z0-9_-]{1,128}$/.test(value);
}

export function renderTemplate(template: Template, inputs: TemplateInputs, isSafeToken: (value: string) => boolean, field: string): string {
  if (template.isStatic) return template.source;
  let out = '';
  for (const part of template.parts) {
    if (part.kind === 'literal') {
      out += part.text;
      continue;
    }
    const raw = part.kind === 'param' ? inputs.params[part.name] : inputs.headers[part.name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    const label = part.kind === 'param' ? `path parameter "${part.name}"` : `header "${part.name}"`;
    if (value === undefined || value === '') {
      throw new BusgateError('missing_value', `${label} is required to build the ${field}`);
    }
    if (!isSafeToken(value)) {
      throw new BusgateError('invalid_token', `${label} is not one safe ${field} token: ${JSON.stringify(value.slice(0, 64))}`);
    }
    out += value;
  }
  return out;
}

export function templateParams(template: Template): string[] {
  return template.parts.flatMap((part) => (part.kind === 'param' ? [part.name] : []));
}

/**
 * Whether some request could make `template` render exactly `target`, each placeholder taking
 * one value that `isSafeToken` accepts. Used to keep routes off a plugin's reserved destinations
 * and to decide which destinations a client may tap. Placeholders are tried both shortest-first
 * and longest-first, which settles every template whose placeholders are separated by literals.
 */
export function canRender(template: Template, target: string, isSafeToken: (value: string) => boolean): boolean {
  if (template.isStatic) return template.source === target;
  return [true, false].some((lazy) => {
    const pattern = template.parts.map((part) => (part.kind === 'literal' ? escapeRegExp(part.text) : lazy ? '(.+?)' : '(.+)')).join('');
    const match = new RegExp(`^${pattern}$`, 's').exec(target);
    return match !== null && match.slice(1).every((value) => isSafeToken(value));
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
