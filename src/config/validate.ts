/**
 * Every problem of a config at once, for `rewards validate`: JSON syntax errors with line and
 * column (jsonc-parser, in strict JSON mode), then every schema problem with its config path, and a
 * "did you mean" for unknown keys and campaign ids. Commands themselves stop at the first problem
 * (load.ts); this is for checking a config before it costs anything.
 */
import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';
import { z } from 'zod';
import { formatPath } from './load.js';
import { ConfigSchema } from './schema.js';
import { closest } from '../util/suggest.js';

export interface ConfigProblem {
  /** `campaigns[0].rules[1].event_type`, or `(syntax)`. */
  path: string;
  line: number | null;
  column: number | null;
  message: string;
  suggestion: string | null;
}

/** Every property name the config schema knows, anywhere in it. */
function schemaKeys(): Set<string> {
  const keys = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.properties && typeof o.properties === 'object') for (const k of Object.keys(o.properties)) keys.add(k);
    for (const v of Object.values(o)) walk(v);
  };
  walk(z.toJSONSchema(ConfigSchema, { unrepresentable: 'any', io: 'input' }));
  return keys;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

const SYNTAX: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'malformed number',
  PropertyNameExpected: 'a property name in double quotes was expected',
  ValueExpected: 'a value was expected',
  ColonExpected: "':' was expected",
  CommaExpected: "',' was expected",
  CloseBraceExpected: "'}' was expected",
  CloseBracketExpected: "']' was expected",
  EndOfFileExpected: 'nothing may follow the top-level value',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'comments are not allowed in JSON',
  UnexpectedEndOfString: 'a string is not closed',
  UnexpectedEndOfNumber: 'a number is cut off',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape in a string',
  InvalidCharacter: 'a control character inside a string',
};

/** The problems of a config file's text; none means every command will accept it. */
export function configProblems(text: string): ConfigProblem[] {
  const errors: ParseError[] = [];
  const raw = parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (errors.length) {
    return errors.map((e) => {
      const at = lineColumn(text, e.offset);
      const code = printParseErrorCode(e.error);
      return { path: '(syntax)', ...at, message: `not valid JSON: ${SYNTAX[code] ?? code}`, suggestion: null };
    });
  }
  const r = ConfigSchema.safeParse(raw);
  if (r.success) return [];
  const keys = schemaKeys();
  const campaignIds = Array.isArray((raw as { campaigns?: unknown })?.campaigns)
    ? ((raw as { campaigns: { id?: unknown }[] }).campaigns.map((c) => c?.id).filter((x) => typeof x === 'string') as string[])
    : [];
  const out: ConfigProblem[] = [];
  for (const issue of r.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      // One problem per key, each at its own path, with the nearest key the schema knows.
      for (const k of issue.keys) {
        const near = closest(k, keys);
        out.push({ path: formatPath([...issue.path, k]), line: null, column: null, message: `unknown key "${k}"`, suggestion: near });
      }
      continue;
    }
    const unknownCampaign = /^unknown campaign "(.*)"$/.exec(issue.message);
    const zone = /^"(.*)" is not a known IANA time zone/.exec(issue.message);
    out.push({
      path: formatPath(issue.path),
      line: null,
      column: null,
      message: issue.message,
      suggestion: unknownCampaign ? closest(unknownCampaign[1]!, campaignIds) : zone ? closest(zone[1]!, Intl.supportedValuesOf('timeZone')) : null,
    });
  }
  return out;
}
