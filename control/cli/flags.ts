/**
 * A small declarative flag parser with pflag's habits, so Docker users type what they know: `--name x`,
 * `--name=x`, `-p 80:80`, `-p80:80`, bundled short booleans (`-qd`), `--detach=false`, repeated list flags, `--`
 * to end flags, and optionally stopping at the first positional argument (`service create IMAGE ARGS...` keeps
 * `ping -c 3` for the container). Values are checked as they are read, so a bad value fails before anything is
 * sent to the daemon, with a message naming the flag and the accepted form.
 */
import { parseDuration } from '../base/clock';
import { parseBytes, parseCpus } from './units';

export type FlagType = 'string' | 'bool' | 'int' | 'uint' | 'float' | 'duration' | 'list' | 'bytes' | 'cpus';

export interface FlagDef {
  name: string;
  short?: string;
  type: FlagType;
  help: string;
  /** Shown in help; not applied (the daemon fills Docker's defaults). */
  default?: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagValue = string | boolean | number | string[];

export class ParsedFlags {
  constructor(readonly values: Map<string, FlagValue>, readonly args: string[]) {}

  changed(name: string): boolean {
    return this.values.has(name);
  }
  anyChanged(...names: string[]): boolean {
    return names.some((n) => this.values.has(n));
  }
  str(name: string): string | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : String(v);
  }
  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  num(name: string): number | undefined {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : undefined;
  }
  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}

function convert(def: FlagDef, raw: string): FlagValue {
  const bad = (why: string): UsageError => new UsageError(`invalid argument "${raw}" for "--${def.name}" flag: ${why}`);
  switch (def.type) {
    case 'string':
    case 'list':
      return raw;
    case 'bool':
      if (/^(1|t|true|TRUE|True)$/.test(raw)) return true;
      if (/^(0|f|false|FALSE|False)$/.test(raw)) return false;
      throw bad('use true or false');
    case 'int':
      if (!/^-?\d+$/.test(raw)) throw bad('must be an integer, like 3');
      return Number(raw);
    case 'uint':
      if (!/^\d+$/.test(raw)) throw bad('must be a non-negative integer, like 3');
      return Number(raw);
    case 'float':
      if (!/^-?(\d+\.?\d*|\.\d+)$/.test(raw)) throw bad('must be a number, like 0.2');
      return Number(raw);
    case 'duration':
      try {
        return parseDuration(raw);
      } catch {
        throw bad('must be a duration with a unit, like 10s, 1m30s or 500ms');
      }
    case 'bytes':
      try {
        return parseBytes(raw);
      } catch {
        throw bad('must be a size with an optional unit, like 512m, 1g or 10MiB');
      }
    case 'cpus':
      try {
        return parseCpus(raw);
      } catch (e) {
        throw bad((e as Error).message.replace(/^invalid CPU value "[^"]*": /, ''));
      }
  }
}

export interface ParseOptions {
  /** Stop reading flags at the first positional argument (pflag's SetInterspersed(false)). */
  stopAtPositional?: boolean;
}

export function parseFlags(defs: FlagDef[], argv: string[], opts: ParseOptions = {}): ParsedFlags {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short as string, d]));
  const values = new Map<string, FlagValue>();
  const args: string[] = [];
  const set = (def: FlagDef, raw: string): void => {
    const v = convert(def, raw);
    if (def.type === 'list') values.set(def.name, [...((values.get(def.name) as string[]) ?? []), raw]);
    else values.set(def.name, v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const def = byName.get(name);
      if (!def) throw new UsageError(`unknown flag: --${name}`);
      if (eq >= 0) set(def, a.slice(eq + 1));
      else if (def.type === 'bool') values.set(def.name, true);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        set(def, argv[++i]);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const def = byShort.get(c);
        if (!def) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`);
        if (def.type === 'bool') {
          if (a[j + 1] === '=') {
            set(def, a.slice(j + 2));
            break;
          }
          values.set(def.name, true);
          continue;
        }
        let rest = a.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        if (rest === '') {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${c}' in ${a}`);
          rest = argv[++i];
        }
        set(def, rest);
        break;
      }
      continue;
    }
    if (opts.stopAtPositional) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(a);
  }
  return new ParsedFlags(values, args);
}

/** The flag section of a command's --help. */
export function flagHelp(defs: FlagDef[]): string {
  const rows = defs.map((d) => {
    const names = (d.short ? `-${d.short}, ` : '    ') + `--${d.name}` + (d.type === 'bool' ? '' : ` ${typeWord(d.type)}`);
    return [names, d.help + (d.default ? ` (default ${d.default})` : '')];
  });
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([n, h]) => `  ${n.padEnd(w)}   ${h}`).join('\n');
}

function typeWord(t: FlagType): string {
  return { string: 'string', bool: '', int: 'int', uint: 'uint', float: 'float', duration: 'duration', list: 'list', bytes: 'bytes', cpus: 'decimal' }[t];
}
