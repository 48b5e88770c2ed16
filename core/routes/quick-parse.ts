/**
 * A faster first reading of a routes file, for the daemon's start-up and reloads. `yaml` builds a
 * concrete syntax tree and then a document of nodes with source positions for the whole file:
 * about a second of CPU for 10,000 routes, plus the garbage collection of everything it
 * allocated. Positions are needed only to say where a problem is, and which line each route,
 * subscription, stream and pull starts on (unnamed routes are named after their line). So the
 * file is first read with js-yaml (about six times faster), turned into a document whose only
 * positions are those of the top-level list items, and linted; whenever the linter finds
 * anything, the caller reads the file again with `yaml` (parseRoutes), so every message and line
 * number is the one `yaml` gives.
 *
 * Only files where both parsers give the same values take this path. Anything else gets
 * `undefined` and is read by `yaml` alone: a js-yaml error (syntax, duplicate keys, complex keys,
 * unknown tags, depth, several documents), a `%` directive (`%YAML 1.1` changes the schema for
 * `yaml` only), an alias (the `yaml` document keeps alias nodes, which the linter sees as such),
 * and a mapping key that YAML's core schema reads as null, a boolean or a number (js-yaml turns
 * every key into a string, `yaml` keeps the typed key). test/unit/quick-parse.test.ts compares
 * both parsers on every routes file in the repository, the READMEs' examples and the edge cases.
 */
import { EVENT_ID, constructFromEvents, getScalarValue, parseEvents, type Event } from 'js-yaml';
import { Document, LineCounter, isNode, isSeq } from 'yaml';
import { parseRoutes, type ParsedRoutes } from './lint.js';

const DIRECTIVE = /^%/m;

/** Plain scalars YAML 1.2's core schema resolves to something other than a string (as `yaml` does). */
const TYPED_SCALAR =
  /^(?:~|[Nn]ull|NULL|[Tt]rue|TRUE|[Ff]alse|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)?$/;

function keysAreStrings(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(keysAreStrings);
  if (value === null || typeof value !== 'object') return true;
  for (const [key, inner] of Object.entries(value)) {
    if (TYPED_SCALAR.test(key) || !keysAreStrings(inner)) return false;
  }
  return true;
}

interface Frame {
  readonly kind: 'document' | 'mapping' | 'sequence';
  /** Mappings: whether the next node is a key. */
  nextIsKey: boolean;
  key?: string;
  /** A top-level list: where each of its items starts. */
  readonly itemStarts?: number[];
}

/** Where each item of each top-level list starts, by the list's key. */
function topLevelItemStarts(events: readonly Event[], text: string): Map<string, number[]> {
  const lists = new Map<string, number[]>();
  const stack: Frame[] = [];
  for (const event of events) {
    if (event.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    if (event.type === EVENT_ID.DOCUMENT) {
      stack.push({ kind: 'document', nextIsKey: false });
      continue;
    }
    const parent = stack[stack.length - 1];
    const start = event.type === EVENT_ID.SCALAR ? event.valueStart : event.type === EVENT_ID.ALIAS ? event.anchorStart : event.start;
    let itemStarts: number[] | undefined;
    if (parent?.kind === 'mapping') {
      const isRoot = stack.length === 2;
      if (parent.nextIsKey) {
        if (isRoot && event.type === EVENT_ID.SCALAR) parent.key = getScalarValue(text, event);
      } else if (isRoot && event.type === EVENT_ID.SEQUENCE && parent.key !== undefined) {
        itemStarts = [];
        lists.set(parent.key, itemStarts);
      }
      parent.nextIsKey = !parent.nextIsKey;
    } else if (parent?.itemStarts) {
      parent.itemStarts.push(start);
    }
    if (event.type === EVENT_ID.MAPPING) stack.push({ kind: 'mapping', nextIsKey: true });
    if (event.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'sequence', nextIsKey: false, ...(itemStarts ? { itemStarts } : {}) });
  }
  return lists;
}

function lineCounterOf(text: string): LineCounter {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines.addNewLine(at + 1);
  return lines;
}

export function parseRoutesQuickly(text: string): ParsedRoutes | undefined {
  if (DIRECTIVE.test(text)) return undefined;
  let events: Event[];
  let documents: unknown[];
  try {
    events = parseEvents(text, {});
    documents = constructFromEvents(events, { source: text, maxAliases: 0 });
  } catch {
    return undefined;
  }
  if (documents.length !== 1 || !keysAreStrings(documents[0])) return undefined;
  // Typed as parsed: the linters read positions only through the optional `range`, which only
  // the top-level list items get here, and a problem found on this document is never shown (the
  // caller reads the file again with `yaml`).
  const doc = new Document(documents[0], { aliasDuplicateObjects: false }) as unknown as Document.Parsed;
  for (const [key, starts] of topLevelItemStarts(events, text)) {
    const list = doc.get(key, true);
    if (!isSeq(list) || list.items.length !== starts.length) return undefined;
    list.items.forEach((item, index) => {
      if (isNode(item)) item.range = [starts[index]!, starts[index]!, starts[index]!];
    });
  }
  return { doc, lines: lineCounterOf(text) };
}

/** A routes file read once, so that a start-up that looked at it already need not parse it again. */
export interface RoutesReading {
  readonly text: string;
  readonly document: ParsedRoutes;
  /** Read by parseRoutesQuickly: problems must be found again on `yaml`'s reading. */
  readonly quick: boolean;
}

export function readRoutes(text: string): RoutesReading {
  const quick = parseRoutesQuickly(text);
  return quick !== undefined ? { text, document: quick, quick: true } : { text, document: parseRoutes(text), quick: false };
}
