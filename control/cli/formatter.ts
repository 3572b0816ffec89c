/**
 * Docker's list formatter: a `--format` string (or a command's default) applied to one context object per row.
 * A format starting with `table` gets a header row, made by running the same template over the column titles,
 * and tabwriter alignment; any other format prints one line per row as is. Bad templates fail before any output,
 * with Docker's "template parsing error: " prefix.
 */
import { tabwrite } from './table';
import { Template, TemplateError, unescapeFormat } from './template';

export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

export function compile(format: string): Template {
  try {
    return Template.parse(format);
  } catch (e) {
    if (e instanceof TemplateError) throw new FormatError(`template parsing error: ${e.message}`);
    throw e;
  }
}

export function execute(t: Template, data: unknown, strictType?: string): string {
  try {
    return t.execute(data, { strictType });
  } catch (e) {
    if (e instanceof TemplateError) throw new FormatError(`template parsing error: ${e.message}`);
    throw e;
  }
}

export interface ListFormat {
  /** Column titles by field name, e.g. { ID: 'ID', DesiredState: 'DESIRED STATE' }. */
  headers: Record<string, string>;
  /** Go type name used in "can't evaluate field" errors. */
  typeName: string;
}

/** Renders rows with a Docker list format; returns the whole output. */
export function renderList(format: string, rows: object[], spec: ListFormat): string {
  let f = format;
  const table = f.startsWith('table');
  if (table) f = f.slice('table'.length).replace(/^ +| +$/g, '');
  f = unescapeFormat(f);
  const t = compile(f);
  let out = '';
  if (table) out += execute(t, spec.headers) + '\n';
  for (const row of rows) out += execute(t, row, spec.typeName) + '\n';
  return table ? tabwrite(out) : out;
}
