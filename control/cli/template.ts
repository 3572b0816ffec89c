/**
 * The subset of Go's text/template that `--format` needs: `{{.Field}}`, `{{.A.B}}`, `{{.}}`, functions (`json`,
 * `upper`, `lower`, `title`, `join`, `len`, `index`, `println`, `truncate`), pipes, `if`/`else`/`end`,
 * `range`/`end`, `with`/`end`, and the `{{-`/`-}}` trim markers. Values print as Go's %v would (slices as
 * `[a b]`, maps as `map[k:v]`, a missing value as `<no value>`), and errors carry Go's wording and position
 * ("template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0") so scripts written
 * for docker see the same messages.
 */

export class TemplateError extends Error {
  constructor(message: string) {
    super(`template: :${message}`);
    this.name = 'TemplateError';
  }
}

type Operand =
  | { kind: 'field'; base: 'dot' | { var: string }; path: string[]; pos: number; text: string }
  | { kind: 'func'; name: string; path: string[]; pos: number; text: string }
  | { kind: 'lit'; value: unknown; pos: number; text: string }
  | { kind: 'paren'; pipe: Pipe; pos: number; text: string };
type Command = Operand[];
type Pipe = Command[];

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if' | 'with' | 'range'; pipe: Pipe; body: Node[]; alt: Node[] };

export type TemplateFunc = (...args: unknown[]) => unknown;

const FUNCS: Record<string, { arity: number | [number, number]; fn: TemplateFunc }> = {
  json: { arity: 1, fn: (v) => goJson(v) },
  upper: { arity: 1, fn: (v) => String(v).toUpperCase() },
  lower: { arity: 1, fn: (v) => String(v).toLowerCase() },
  title: { arity: 1, fn: (v) => String(v).replace(/\b\w/g, (c) => c.toUpperCase()) },
  join: { arity: 2, fn: (v, sep) => (Array.isArray(v) ? v.map(formatValue).join(String(sep)) : formatValue(v)) },
  split: { arity: 2, fn: (v, sep) => String(v).split(String(sep)) },
  len: { arity: 1, fn: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0) },
  index: { arity: 2, fn: (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[String(k)] : undefined) },
  println: { arity: [0, 99], fn: (...a) => a.map(formatValue).join(' ') + '\n' },
  print: { arity: [0, 99], fn: (...a) => a.map(formatValue).join('') },
  truncate: { arity: 2, fn: (v, n) => [...String(v)].slice(0, Number(n)).join('') },
};

/** Fields of Docker's types that are Go maps: encoding/json writes their keys sorted. */
const MAP_FIELDS = new Set(['Labels', 'Options', 'DriverOpts', 'Annotations', 'Containers', 'Sysctls']);

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const sortKeys = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));

/**
 * Go's json for a template value: map keys sorted, struct fields in their order. A map is a value under a
 * MAP_FIELDS key, or a top-level object none of whose keys is an exported (capitalised) Go field name.
 */
export function goJson(v: unknown): string {
  const top = isPlainObject(v) && Object.keys(v).every((k) => !/^[A-Z]/.test(k)) ? sortKeys(v) : v;
  return JSON.stringify(top === undefined ? null : top, (k, x) => (MAP_FIELDS.has(k) && isPlainObject(x) ? sortKeys(x) : x));
}

/** Go's %v for JSON-like values. */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${formatValue(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

export interface ExecOptions {
  /** When set, a field missing from an object is an error (Go's typed structs), not `<no value>`. */
  strictType?: string;
}

export class Template {
  private constructor(private readonly nodes: Node[], private readonly source: string) {}

  static parse(source: string): Template {
    return new Template(new Parser(source).parse(), source);
  }

  execute(data: unknown, opts: ExecOptions = {}): string {
    const out: string[] = [];
    this.run(this.nodes, data, { $: data }, opts, out);
    return out.join('');
  }

  private run(nodes: Node[], dot: unknown, vars: Record<string, unknown>, opts: ExecOptions, out: string[]): void {
    for (const n of nodes) {
      if (n.kind === 'text') out.push(n.text);
      else if (n.kind === 'action') {
        const v = this.pipe(n.pipe, dot, vars, opts);
        out.push(formatValue(v));
      } else if (n.kind === 'if') {
        this.run(truthy(this.pipe(n.pipe, dot, vars, opts)) ? n.body : n.alt, dot, vars, opts, out);
      } else if (n.kind === 'with') {
        const v = this.pipe(n.pipe, dot, vars, opts);
        if (truthy(v)) this.run(n.body, v, vars, opts, out);
        else this.run(n.alt, dot, vars, opts, out);
      } else {
        const v = this.pipe(n.pipe, dot, vars, opts);
        const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => (v as Record<string, unknown>)[k]) : [];
        if (items.length === 0) this.run(n.alt, dot, vars, opts, out);
        for (const item of items) this.run(n.body, item, vars, opts, out);
      }
    }
  }

  private pipe(pipe: Pipe, dot: unknown, vars: Record<string, unknown>, opts: ExecOptions): unknown {
    let prev: unknown;
    let hasPrev = false;
    for (const cmd of pipe) {
      prev = this.command(cmd, dot, vars, opts, hasPrev ? [prev] : []);
      hasPrev = true;
    }
    return prev;
  }

  private command(cmd: Command, dot: unknown, vars: Record<string, unknown>, opts: ExecOptions, piped: unknown[]): unknown {
    const head = cmd[0];
    if (head.kind === 'func') {
      const f = FUNCS[head.name];
      const args = [...cmd.slice(1).map((o) => this.operand(o, dot, vars, opts)), ...piped];
      const [lo, hi] = typeof f.arity === 'number' ? [f.arity, f.arity] : f.arity;
      if (args.length < lo || args.length > hi) {
        throw this.execError(head, `wrong number of args for ${head.name}: want ${lo} got ${args.length}`);
      }
      return this.walk(f.fn(...args), head.path, head, opts);
    }
    if (cmd.length > 1 || piped.length > 0) throw this.execError(head, `can't give argument to non-function ${head.text}`);
    return this.operand(head, dot, vars, opts);
  }

  private operand(o: Operand, dot: unknown, vars: Record<string, unknown>, opts: ExecOptions): unknown {
    switch (o.kind) {
      case 'lit':
        return o.value;
      case 'paren':
        return this.pipe(o.pipe, dot, vars, opts);
      case 'func':
        return this.command([o], dot, vars, opts, []);
      case 'field': {
        const base = o.base === 'dot' ? dot : vars[o.base.var];
        return this.walk(base, o.path, o, opts);
      }
    }
  }

  private walk(v: unknown, path: string[], at: Operand, opts: ExecOptions): unknown {
    let cur = v;
    for (const name of path) {
      if (cur === undefined || cur === null) return undefined;
      if (typeof cur !== 'object' || Array.isArray(cur)) {
        throw this.execError(at, `can't evaluate field ${name} in type ${Array.isArray(cur) ? '[]interface {}' : typeof cur}`);
      }
      const obj = cur as Record<string, unknown>;
      if (opts.strictType && cur === v && !(name in obj)) {
        throw this.execError(at, `can't evaluate field ${name} in type ${opts.strictType}`);
      }
      cur = obj[name];
    }
    return cur;
  }

  private execError(at: Operand, msg: string): TemplateError {
    const before = this.source.slice(0, at.pos);
    const line = before.split('\n').length;
    const col = at.pos - (before.lastIndexOf('\n') + 1);
    return new TemplateError(`${line}:${col}: executing "" at <${at.text}>: ${msg}`);
  }
}

/** A recursive-descent parser over the source; positions are byte offsets for Go-style error positions. */
class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node[] {
    const { nodes, end } = this.list();
    if (end) throw this.err(`unexpected {{${end}}}`);
    return nodes;
  }

  private lineOf(pos: number): number {
    return this.src.slice(0, pos).split('\n').length;
  }

  private err(msg: string, pos = this.i): TemplateError {
    return new TemplateError(`${this.lineOf(pos)}: ${msg}`);
  }

  /** Nodes up to a closing keyword (end / else); returns which one stopped the list. */
  private list(): { nodes: Node[]; end?: string; elseIf?: Pipe } {
    const nodes: Node[] = [];
    while (this.i < this.src.length) {
      const open = this.src.indexOf('{{', this.i);
      let text = this.src.slice(this.i, open < 0 ? undefined : open);
      if (open < 0) {
        nodes.push({ kind: 'text', text });
        this.i = this.src.length;
        break;
      }
      const trimLeft = /^\{\{-[ \t\r\n]/.test(this.src.slice(open, open + 4));
      if (trimLeft) text = text.replace(/[ \t\r\n]+$/, '');
      if (text) nodes.push({ kind: 'text', text });
      const start = open + (trimLeft ? 3 : 2);
      const close = this.findClose(start);
      if (close < 0) throw this.err('unclosed action', open);
      const trimRight = /[ \t\r\n]-\}\}$/.test(this.src.slice(close - 2, close + 2)) || this.src.slice(close - 1, close + 2) === '-}}';
      const body = this.src.slice(start, trimRight ? close - 1 : close);
      this.i = close + 2;
      if (trimRight) while (this.i < this.src.length && /[ \t\r\n]/.test(this.src[this.i])) this.i++;
      const node = this.action(body, start);
      if (node === null) continue; // comment
      if (typeof node === 'string') return { nodes, end: node };
      if ('elseIf' in node) return { nodes, end: 'else', elseIf: node.elseIf };
      nodes.push(node);
    }
    return { nodes };
  }

  private findClose(from: number): number {
    let inStr: string | null = null;
    for (let j = from; j < this.src.length - 1; j++) {
      const c = this.src[j];
      if (inStr) {
        if (c === '\\' && inStr === '"') j++;
        else if (c === inStr) inStr = null;
      } else if (c === '"' || c === '`') inStr = c;
      else if (c === '}' && this.src[j + 1] === '}') return j;
    }
    return -1;
  }

  private action(body: string, pos: number): Node | string | { elseIf: Pipe } | null {
    const trimmed = body.trim();
    if (trimmed.startsWith('/*')) return null;
    const word = /^(\w+)/.exec(trimmed)?.[1];
    const lead = pos + body.indexOf(trimmed);
    if (word === 'end') return 'end';
    if (word === 'else') {
      const rest = trimmed.slice(4).trim();
      if (rest.startsWith('if ')) return { elseIf: this.pipeline(rest.slice(3), lead + trimmed.indexOf(rest) + 3) };
      return 'else';
    }
    if (word === 'if' || word === 'with' || word === 'range') {
      const pipe = this.pipeline(trimmed.slice(word.length), lead + word.length);
      const first = this.list();
      let alt: Node[] = [];
      if (first.end === 'else' && first.elseIf) {
        // "else if" nests an if in the else branch that shares the outer end.
        const inner = this.elseIfChain(first.elseIf);
        alt = [inner];
      } else if (first.end === 'else') {
        const second = this.list();
        if (second.end !== 'end') throw this.err(`expected end; found ${second.end ?? 'EOF'}`);
        alt = second.nodes;
      } else if (first.end !== 'end') throw this.err(`unexpected EOF`);
      return { kind: word, pipe, body: first.nodes, alt };
    }
    if (trimmed === '') throw this.err('missing value for command', pos);
    return { kind: 'action', pipe: this.pipeline(body, pos) };
  }

  private elseIfChain(pipe: Pipe): Node {
    const first = this.list();
    let alt: Node[] = [];
    if (first.end === 'else' && first.elseIf) alt = [this.elseIfChain(first.elseIf)];
    else if (first.end === 'else') {
      const second = this.list();
      if (second.end !== 'end') throw this.err('expected end');
      alt = second.nodes;
    } else if (first.end !== 'end') throw this.err('unexpected EOF');
    return { kind: 'if', pipe, body: first.nodes, alt };
  }

  /** Tokenises one action's pipeline: operands separated by spaces, commands by '|'. */
  private pipeline(text: string, pos: number): Pipe {
    const tokens: { t: string; pos: number }[] = [];
    const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\||\(|\)|[^\s|()]+)/gy;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null && m[1] !== undefined) tokens.push({ t: m[1], pos: pos + m.index + m[0].length - m[1].length });
    let k = 0;
    const parsePipe = (): Pipe => {
      const pipe: Pipe = [];
      let cmd: Command = [];
      while (k < tokens.length) {
        const tok = tokens[k];
        if (tok.t === ')') break;
        k++;
        if (tok.t === '|') {
          if (cmd.length === 0) throw this.err('missing command before |', tok.pos);
          pipe.push(cmd);
          cmd = [];
        } else if (tok.t === '(') {
          const inner = parsePipe();
          if (tokens[k]?.t !== ')') throw this.err('unclosed left paren', tok.pos);
          k++;
          cmd.push({ kind: 'paren', pipe: inner, pos: tok.pos, text: '(...)' });
        } else cmd.push(this.operand(tok.t, tok.pos));
      }
      if (cmd.length === 0) throw this.err('missing value for command', pos);
      pipe.push(cmd);
      return pipe;
    };
    const pipe = parsePipe();
    if (k < tokens.length) throw this.err(`unexpected ")" in operand`, tokens[k].pos);
    return pipe;
  }

  private operand(t: string, pos: number): Operand {
    if (t.startsWith('"')) return { kind: 'lit', value: JSON.parse(t), pos, text: t };
    if (t.startsWith('`')) return { kind: 'lit', value: t.slice(1, -1), pos, text: t };
    if (/^-?\d+(\.\d+)?$/.test(t)) return { kind: 'lit', value: Number(t), pos, text: t };
    if (t === 'true' || t === 'false') return { kind: 'lit', value: t === 'true', pos, text: t };
    if (t === 'nil') return { kind: 'lit', value: null, pos, text: t };
    if (t === '.') return { kind: 'field', base: 'dot', path: [], pos, text: t };
    if (t.startsWith('.')) {
      const path = t.slice(1).split('.');
      if (path.some((p) => !/^\w+$/.test(p))) throw this.err(`bad character in field ${t}`, pos);
      return { kind: 'field', base: 'dot', path, pos, text: t };
    }
    if (t.startsWith('$')) {
      const [v, ...path] = t.split('.');
      if (v !== '$') throw this.err(`undefined variable "${v}"`, pos);
      return { kind: 'field', base: { var: '$' }, path, pos, text: t };
    }
    const [name, ...path] = t.split('.');
    if (!/^\w+$/.test(name)) throw this.err(`bad character in "${t}"`, pos);
    if (!(name in FUNCS)) throw this.err(`function "${name}" not defined`, pos);
    return { kind: 'func', name, path, pos, text: name };
  }
}

/** Docker turns the two characters `\t` and `\n` typed on a command line into a tab and a newline. */
export function unescapeFormat(format: string): string {
  return format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}
