/**
 * Small display rules shared by the list renderers: Docker's natural sort, how an image reference is shortened
 * for tables (digest dropped when there is a tag, `docker.io/library/` dropped), and the JSON docker's inspect
 * prints (four-space indent, `<`, `>` and `&` escaped the way Go's encoder does).
 */

/** Natural order: digit runs compare as numbers ("node2" < "node10"). */
export function naturalLess(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** "alpine:latest@sha256:…" → "alpine:latest"; "docker.io/library/redis:7" → "redis:7". */
export function displayImage(image: string): string {
  let name = image;
  let digest = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at);
    name = name.slice(0, at);
  }
  const slash = name.lastIndexOf('/');
  const hasTag = name.lastIndexOf(':') > slash;
  name = name.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
  return hasTag || !digest ? name : name + digest;
}

/** docker inspect's JSON: Go's MarshalIndent with four spaces and HTML-safe escapes. */
export function inspectJson(items: unknown[]): string {
  return (
    JSON.stringify(items, null, 4)
      .replace(/</g, '\\u003c')
      .replace(/>/g, '\\u003e')
      .replace(/&/g, '\\u0026') + '\n'
  );
}
