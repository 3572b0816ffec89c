/**
 * Docker's units: byte sizes as `--reserve-memory 512m` reads them (binary multiples, optional i/b suffixes) and
 * as `--pretty` prints them ("23.54GiB", four significant digits), CPUs as decimal counts turned into NanoCPUs,
 * and the human durations of `service ps` ("About a minute", "2 hours").
 */

const MULT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Parses "512m", "1g", "10MiB", "2048" into bytes; throws with the accepted forms. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text.trim());
  if (!m) throw new Error(`invalid size: '${text}': use a number with an optional unit, like 512m, 1g or 10MiB`);
  return Math.floor(parseFloat(m[1]) * MULT[(m[2] ?? '').toLowerCase()]);
}

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** go-units BytesSize: binary units, "%.4g". */
export function formatBytes(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1024 && i < BINARY.length - 1) {
    size /= 1024;
    i++;
  }
  return `${formatG4(size)}${BINARY[i]}`;
}

/** Go's %.4g for the values units print (below 1024, so never an exponent). */
function formatG4(x: number): string {
  return String(Number(x.toPrecision(4)));
}

/** "1.5" CPUs → 1500000000 NanoCPUs; refuses what cannot be expressed in whole nanoCPUs, as Docker does. */
export function parseCpus(text: string): number {
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(text.trim())) {
    throw new Error(`invalid CPU value "${text}": use a decimal number of CPUs, like 0.5 or 2`);
  }
  const [whole, frac = ''] = text.trim().split('.');
  if (frac.replace(/0+$/, '').length > 9) throw new Error(`invalid CPU value "${text}": value is too precise`);
  return Number(whole || '0') * 1e9 + Number((frac + '000000000').slice(0, 9));
}

/** go-units HumanDuration, for a duration in milliseconds. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3600000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3600000 / 24 / 365)} years`;
}

/** Docker's PrettyPrint: first letter upper-cased, the rest lower-cased ("running" → "Running"). */
export function prettyPrint(s: string | undefined): string {
  if (!s) return '';
  const chars = [...s];
  return chars[0].toUpperCase() + chars.slice(1).join('').toLowerCase();
}

/**
 * Go's time.Time String() for an RFC 3339 timestamp, keeping its nanoseconds:
 * "2026-11-27T01:09:50.326961630Z" → "2026-11-27 01:09:50.32696163 +0000 UTC".
 */
export function goTimeString(rfc3339: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) return rfc3339;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const zone = m[4] === 'Z' ? '+0000 UTC' : `${m[4].replace(':', '')} ${m[4].replace(':', '')}`;
  return `${m[1]} ${m[2]}${frac ? '.' + frac : ''} ${zone}`;
}

/** Docker's Ellipsis: at most max characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  return chars.slice(0, max - 1).join('') + '…';
}
