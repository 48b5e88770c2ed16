/**
 * The broker's naming rules applied when the routes load. A fixed destination or key that breaks
 * them (an MQTT wildcard, an over-long Kafka topic) would make every request to the route a 400,
 * so it is a lint problem instead. A templated one is checked on its literal text, with a harmless
 * stand-in for each placeholder: what fails then fails whatever a request sends.
 */
import type { LintCode } from './lint-codes.js';
import type { Template } from './template.js';

/** A broker's declared rules, as the plugin declares them (see PluginFactory). */
export interface NamingRules {
  readonly isSafeToken?: ((value: string, field: 'destination' | 'key') => boolean) | undefined;
  readonly checkDestination?: ((destination: string) => string | undefined) | undefined;
  readonly checkKey?: ((key: string) => string | undefined) | undefined;
}

/** Stands for every placeholder: one short letter, which every broker's token rule accepts. */
const STAND_IN = 'x';

export interface NameProblem {
  readonly code: LintCode;
  readonly message: string;
}

/** What is wrong with a destination or key template on each broker the route can reach. */
export function namingProblems(
  template: Template | undefined,
  field: 'destination' | 'key',
  brokers: ReadonlyMap<string, NamingRules | undefined>,
): NameProblem[] {
  if (template === undefined) return [];
  const problems: NameProblem[] = [];
  for (const [name, rules] of brokers) {
    const check = field === 'destination' ? rules?.checkDestination : rules?.checkKey;
    if (check === undefined) continue;
    if (!template.isStatic && rules?.isSafeToken?.(STAND_IN, field) === false) continue;
    const problem = check(standInRendering(template));
    if (problem === undefined) continue;
    problems.push({
      code: field === 'destination' ? 'bad_destination' : 'bad_key',
      message: template.isStatic
        ? `${field} "${clip(template.source)}" is not valid on broker "${name}": ${problem}`
        : `${field} "${clip(template.source)}" cannot be valid on broker "${name}" whatever the request sends (checked with "${STAND_IN}" for each placeholder): ${problem}`,
    });
  }
  return problems;
}

function standInRendering(template: Template): string {
  return template.parts.map((part) => (part.kind === 'literal' ? part.text : STAND_IN)).join('');
}

function clip(text: string): string {
  return text.length > 128 ? `${text.slice(0, 128)}…` : text;
}
