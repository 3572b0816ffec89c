/**
 * Shell-like word splitting for flags that take a command line as one string (`--entrypoint "sh -c"`,
 * `--args "ping -c 3 host"`): whitespace separates words, single and double quotes group, backslash escapes.
 */
import { UsageError } from './flags';

export function splitShell(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new UsageError(`unterminated quote in "${text}"`);
  if (has) words.push(cur);
  return words;
}
