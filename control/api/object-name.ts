/**
 * Names of services and networks, checked as swarmkit checks every object's annotations: they become DNS
 * names inside the overlay (service discovery answers `<name>` and tasks are `<name>.<slot>`), so they must be
 * one DNS name component — letters and digits with '-' or '_' only between them, at most 63 characters.
 */
import { invalidArgument } from '../base/errors';

const MAX_NAME_LENGTH = 63;
const DNS_NAME_COMPONENT = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

export function validateObjectName(name: string | undefined, field = 'Name'): string {
  if (!name) throw invalidArgument(field, 'meta: name must be provided');
  if (!DNS_NAME_COMPONENT.test(name)) {
    throw invalidArgument(
      field,
      `invalid name ${JSON.stringify(name)}: name must be valid as a DNS name component ` +
        `(letters and digits, with '-' or '_' only between them)`,
    );
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw invalidArgument(field, `invalid name ${JSON.stringify(name)}: name must be ${MAX_NAME_LENGTH} characters or fewer`);
  }
  return name;
}
