/**
 * What every reader of untrusted keys and values in this package shares: null-prototype records
 * (so a key read from a file, `__proto__` included, is only ever an own key), and the translation
 * of a zod schema's issues into one readable line that names each wrong field, for the package's
 * error classes. Not exported from the package.
 */
import type { z } from 'zod';

/** An empty record without a prototype: keys read from files can never reach `Object.prototype`. */
export function nullRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** `model_config.hidden[1]`: a field's name from a prefix and a zod issue path. */
export function fieldName(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/**
 * The path of the first key named `__proto__` anywhere in a parsed JSON value, or null. JSON.parse
 * keeps such a key as an own property, but any later plain-object copy (spread into a schema's
 * output, `Object.assign`) would either drop it or make it the copy's prototype.
 */
export function protoKeyPath(value: unknown, prefix = ''): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = protoKeyPath(value[i], `${prefix}[${i}]`);
      if (found !== null) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const here = prefix ? `${prefix}.${k}` : k;
      if (k === '__proto__') return here;
      const found = protoKeyPath(v, here);
      if (found !== null) return found;
    }
  }
  return null;
}

/** The value at `path` inside `input` (own properties only), for "got …" in messages. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** A short rendering of a value: JSON, cut at 60 characters. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const ARTICLE_TYPES: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
  null: 'null',
  tuple: 'an array',
};

function bound(issue: { origin: string; inclusive?: boolean }, value: number | bigint, small: boolean): string {
  if (issue.origin === 'array' || issue.origin === 'string' || issue.origin === 'set') {
    const what = issue.origin === 'string' ? 'character' : 'element';
    const n = Number(value);
    return `${small ? 'at least' : 'at most'} ${n} ${what}${n === 1 ? '' : 's'}`;
  }
  const op = small ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
  return `${op} ${String(value)}`;
}

/** What an issue says the value must be ("an integer", ">= 1", "one of \"bn\", \"gn\""), or null. */
function expectation(issue: z.core.$ZodIssue): string | null {
  switch (issue.code) {
    case 'invalid_type':
      return ARTICLE_TYPES[issue.expected] ?? issue.expected;
    case 'too_small':
      return bound(issue, issue.minimum, true);
    case 'too_big':
      return bound(issue, issue.maximum, false);
    case 'invalid_value':
      return issue.values.length === 1 ? show(issue.values[0]) : `one of ${issue.values.map(show).join(', ')}`;
    case 'invalid_union': {
      // Each alternative's first complaint says what it would have taken.
      const forms = issue.errors.map((branch) => (branch[0] ? expectation(branch[0]) : null)).filter((f): f is string => f !== null);
      return forms.length ? forms.join(' or ') : null;
    }
    default:
      return null;
  }
}

/**
 * One line for a failed parse: each issue as `<field> must be <what>, got <value>` (or `<object>
 * has an unknown <keyNoun> '<key>'`), joined with '; '. `prefix` names the value parsed
 * (`model_config`); `keyNoun` is what unknown keys are called (default `key`).
 */
export function describeIssues(error: z.ZodError, input: unknown, options: { prefix?: string; keyNoun?: string } = {}): string {
  const prefix = options.prefix ?? '';
  const keyNoun = options.keyNoun ?? 'key';
  const lines = error.issues.map((issue) => {
    const field = fieldName(prefix, issue.path);
    const got = `got ${show(valueAt(input, issue.path))}`;
    const subject = field || 'the value';
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => `'${k}'`).join(', ');
      return `${field ? `${field} has an ` : ''}unknown ${keyNoun}${issue.keys.length === 1 ? '' : 's'} ${keys}`;
    }
    if (issue.code === 'invalid_key') {
      // The path ends with the key itself; the subject is the record holding it.
      const record = fieldName(prefix, issue.path.slice(0, -1)) || 'the value';
      return `${record} has an invalid key ${show(issue.path[issue.path.length - 1])}: ${issue.issues.map((i) => i.message).join('; ')}`;
    }
    const what = expectation(issue);
    // Our own refinements carry a readable message ("must be a parameter index in decimal digits").
    return what !== null ? `${subject} must be ${what}, ${got}` : `${subject} ${issue.message}, ${got}`;
  });
  return lines.join('; ');
}
