/**
 * The route lookup: which routes could match a request path, found in time that does not grow
 * with the number of routes (a segment trie), so a 10,000-route file costs a request what a
 * 1-route file does, and a path that matches nothing costs no scan.
 *
 * The trie only narrows: it returns every route that *could* match, in file order, and the
 * caller confirms each with the route's own path-to-regexp matcher (which also decodes the
 * parameters). So the routes file keeps exactly its documented semantics (first matching route in
 * file order wins, case-insensitive literals, an optional trailing slash, the whole
 * path-to-regexp syntax) whatever the trie understands; it never drops a route that matches.
 *
 * What the trie indexes: literal segments (ASCII, compared case-insensitively like
 * path-to-regexp's default) and whole-segment parameters (`/:id/`). The rest of a path from the
 * first segment it cannot index (optional groups, wildcards, `:a.:b`, non-ASCII or empty literals)
 * is left to the matcher: such a route is a candidate for every path that reaches its last
 * indexed segment. A file of such routes degrades towards the old scan, never below it.
 *
 * Measured against find-my-way (the Fastify router) in bench/router-lookup.ts: see the README.
 */
import { parse, type Token } from 'path-to-regexp';

interface TrieNode<T> {
  /** Literal next segments, lower-cased. */
  readonly literal: Map<string, TrieNode<T>>;
  /** A whole-segment parameter as the next segment (`[^/]+` in path-to-regexp). */
  param: TrieNode<T> | undefined;
  /** Routes whose path ends here (their last segment led to this node). */
  readonly ending: Entry<T>[];
  /** Routes the trie cannot follow any further: candidates for any path that reaches this node. */
  readonly unindexed: Entry<T>[];
}

interface Entry<T> {
  readonly order: number;
  readonly value: T;
}

type Segment = { readonly kind: 'literal'; readonly text: string } | { readonly kind: 'param' };

/** The indexable leading segments of a path, and whether the whole path was indexable. */
interface Indexed {
  readonly segments: readonly Segment[];
  readonly complete: boolean;
}

const ASCII_PRINTABLE = /^[\x21-\x7e]+$/;

const newNode = <T>(): TrieNode<T> => ({ literal: new Map(), param: undefined, ending: [], unindexed: [] });

export class RouteTrie<T> {
  private readonly root: TrieNode<T> = newNode();
  private size = 0;

  /** Adds a route path (path-to-regexp syntax, starting with "/"); file order is insertion order. */
  add(path: string, value: T): void {
    const { segments, complete } = indexable(parse(path).tokens);
    let node = this.root;
    for (const segment of segments) {
      if (segment.kind === 'param') {
        node = node.param ??= newNode();
      } else {
        let next = node.literal.get(segment.text);
        if (next === undefined) node.literal.set(segment.text, (next = newNode()));
        node = next;
      }
    }
    (complete ? node.ending : node.unindexed).push({ order: this.size++, value });
  }

  /** Every route that could match `path` (the raw path, no query), in the order they were added. */
  candidates(path: string): T[] {
    if (path.charCodeAt(0) !== 47 /* "/" */) return [];
    // path-to-regexp accepts one trailing slash after any route path.
    const end = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.length - 1 : path.length;
    const found: Entry<T>[] = [];
    collect(this.root, path, end > 1 ? 1 : NO_SEGMENT, end, found);
    if (found.length === 1) return [found[0]!.value];
    if (found.length > 1) found.sort((a, b) => a.order - b.order);
    return found.map((entry) => entry.value);
  }
}

const NO_SEGMENT = -1;

/**
 * Walks the segment starting at `start` (NO_SEGMENT once the path is used up) without splitting
 * the path: a lookup allocates only the segments it compares with literals.
 */
function collect<T>(node: TrieNode<T>, path: string, start: number, end: number, found: Entry<T>[]): void {
  for (const entry of node.unindexed) found.push(entry);
  if (start === NO_SEGMENT) {
    for (const entry of node.ending) found.push(entry);
    return;
  }
  let stop = path.indexOf('/', start);
  if (stop === -1 || stop >= end) stop = end;
  const next = stop < end ? stop + 1 : NO_SEGMENT;
  if (node.literal.size > 0) {
    const literal = node.literal.get(path.slice(start, stop).toLowerCase());
    if (literal !== undefined) collect(literal, path, next, end, found);
  }
  // A parameter matches one or more characters up to the next "/".
  if (node.param !== undefined && stop > start) collect(node.param, path, next, end, found);
}

/**
 * Splits the parsed path into segments, as far as each is a plain literal or a whole-segment
 * parameter. A segment counts only once a "/" closes it or the path ends, so a group or a wildcard
 * that could extend it (`/a{b}`) leaves it unindexed.
 */
function indexable(tokens: readonly Token[]): Indexed {
  const closed: Segment[] = [];
  let open: { text: string; params: number } | undefined;
  const finish = (): Segment | undefined => {
    if (open === undefined) return undefined;
    if (open.params === 0 && ASCII_PRINTABLE.test(open.text)) return { kind: 'literal', text: open.text.toLowerCase() };
    if (open.params === 1 && open.text === '') return { kind: 'param' };
    return undefined;
  };
  for (const token of tokens) {
    if (token.type === 'text') {
      const parts = token.value.split('/');
      if (open !== undefined) open.text += parts[0];
      else if (parts[0] !== '') return { segments: closed, complete: false }; // cannot happen: paths start with "/"
      for (const part of parts.slice(1)) {
        if (open !== undefined) {
          const segment = finish();
          if (segment === undefined) return { segments: closed, complete: false };
          closed.push(segment);
        }
        open = { text: part, params: 0 };
      }
    } else if (token.type === 'param' && open !== undefined) {
      open.params += 1;
      // A parameter after text in the same segment ("/v:id") is left to the matcher.
      if (open.text !== '') open.params += 1;
    } else {
      return { segments: closed, complete: false };
    }
  }
  // "/" alone: no segments, ends at the root.
  if (closed.length === 0 && open !== undefined && open.text === '' && open.params === 0) return { segments: [], complete: true };
  const last = finish();
  if (last === undefined) return { segments: closed, complete: false };
  return { segments: [...closed, last], complete: true };
}
