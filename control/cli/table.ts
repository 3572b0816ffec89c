/**
 * Column layout as Go's text/tabwriter does it with Docker's settings (minwidth 10, padding 3, pad with spaces):
 * cells end at a tab, a column's width is its widest cell plus the padding (at least the minimum), and a column
 * block spans the consecutive lines that have a cell in it. The last cell of a line is never padded, which is
 * why Docker's tables keep trailing spaces after an empty ERROR column but none after PORTS.
 */

export interface TableOptions {
  minWidth: number;
  padding: number;
}

export const DOCKER_TABLE: TableOptions = { minWidth: 10, padding: 3 };

/** Width in terminal cells; counts code points, as tabwriter counts runes. */
export function textWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Lays out tab-separated text; every line ends with a newline. */
export function tabwrite(text: string, opts: TableOptions = DOCKER_TABLE): string {
  const raw = text.split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const lines = raw.map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const cells = lines[i];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        if (j < cells.length - 1 && j < widths.length) s += ' '.repeat(Math.max(0, widths[j] - textWidth(c)));
      });
      out.push(s);
    }
  };

  // Go's recursive block formatter: fix this column's width over a block, then format the columns to the right.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i].length - 1) continue;
      writeLines(start, i);
      const blockStart = i;
      let width = opts.minWidth;
      for (; i < line1; i++) {
        if (column >= lines[i].length - 1) break;
        width = Math.max(width, textWidth(lines[i][column]) + opts.padding);
      }
      widths.push(width);
      format(blockStart, i);
      widths.pop();
      start = i;
      i--; // the outer loop's i++ must look at the line that ended the block
    }
    writeLines(start, line1);
  };
  format(0, lines.length);
  return out.map((l) => l + '\n').join('');
}
