/**
 * Finding an object the way Docker does: by full ID, then by exact name, then by a unique ID prefix. An
 * ambiguous prefix is an error listing how many matched; nothing found is a 404 naming the reference.
 */
import { notFound, invalidArgument } from '../../base/errors';

export function resolve<T extends { ID: string }>(
  what: string,
  ref: string,
  all: T[],
  nameOf: (o: T) => string | undefined,
): T {
  const byId = all.find((o) => o.ID === ref);
  if (byId) return byId;
  const byName = all.filter((o) => nameOf(o) === ref);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) throw invalidArgument('id', `${what} ${ref} is ambiguous (${byName.length} matches found)`);
  const byPrefix = ref.length > 0 ? all.filter((o) => o.ID.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0];
  if (byPrefix.length > 1) throw invalidArgument('id', `${what} ${ref} is ambiguous (${byPrefix.length} matches found)`);
  throw notFound(`${what} ${ref} not found`);
}
