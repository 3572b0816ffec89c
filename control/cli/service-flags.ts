/**
 * The flag tables of `service create` and `service update`, Docker's names and short forms. Update takes every
 * create flag that can change a running service, plus the -add/-rm pairs for list-valued settings and the
 * update-only flags (--image, --args, --force, --rollback).
 */
import type { FlagDef } from './flags';

const d = (name: string, type: FlagDef['type'], help: string, short?: string, def?: string): FlagDef => ({
  name,
  type,
  help,
  short,
  default: def,
});

/** Flags both commands share, with the same meaning. */
export const COMMON_SERVICE_FLAGS: FlagDef[] = [
  d('detach', 'bool', 'Exit immediately instead of waiting for the service to converge', 'd'),
  d('quiet', 'bool', 'Suppress progress output', 'q'),
  d('replicas', 'uint', 'Number of tasks'),
  d('replicas-max-per-node', 'uint', 'Maximum number of tasks per node (0 = unlimited)'),
  d('endpoint-mode', 'string', 'Endpoint mode (vip or dnsrr)', undefined, 'vip'),
  d('hostname', 'string', 'Container hostname'),
  d('workdir', 'string', 'Working directory inside the container', 'w'),
  d('user', 'string', 'Username or UID (format: <name|uid>[:<group|gid>])', 'u'),
  d('entrypoint', 'string', 'Overwrite the default ENTRYPOINT of the image'),
  d('init', 'bool', 'Use an init inside each service container to forward signals and reap processes'),
  d('reserve-cpu', 'cpus', 'Reserve CPUs'),
  d('reserve-memory', 'bytes', 'Reserve Memory'),
  d('limit-cpu', 'cpus', 'Limit CPUs'),
  d('limit-memory', 'bytes', 'Limit Memory'),
  d('limit-pids', 'uint', 'Limit maximum number of processes (default 0 = unlimited)'),
  d('restart-condition', 'string', 'Restart when condition is met ("none", "on-failure", "any")', undefined, '"any"'),
  d('restart-delay', 'duration', 'Delay between restart attempts (ns|us|ms|s|m|h)', undefined, '5s'),
  d('restart-max-attempts', 'uint', 'Maximum number of restarts before giving up'),
  d('restart-window', 'duration', 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)'),
  d('update-parallelism', 'uint', 'Maximum number of tasks updated simultaneously (0 to update all at once)', undefined, '1'),
  d('update-delay', 'duration', 'Delay between updates (ns|us|ms|s|m|h)', undefined, '0s'),
  d('update-failure-action', 'string', 'Action on update failure ("pause", "continue", "rollback")', undefined, '"pause"'),
  d('update-monitor', 'duration', 'Duration after each task update to monitor for failure (ns|us|ms|s|m|h)', undefined, '5s'),
  d('update-max-failure-ratio', 'float', 'Failure rate to tolerate during an update'),
  d('update-order', 'string', 'Update order ("start-first", "stop-first")', undefined, '"stop-first"'),
  d('rollback-parallelism', 'uint', 'Maximum number of tasks rolled back simultaneously (0 to roll back all at once)', undefined, '1'),
  d('rollback-delay', 'duration', 'Delay between task rollbacks (ns|us|ms|s|m|h)', undefined, '0s'),
  d('rollback-failure-action', 'string', 'Action on rollback failure ("pause", "continue")', undefined, '"pause"'),
  d('rollback-monitor', 'duration', 'Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)', undefined, '5s'),
  d('rollback-max-failure-ratio', 'float', 'Failure rate to tolerate during a rollback'),
  d('rollback-order', 'string', 'Rollback order ("start-first", "stop-first")', undefined, '"stop-first"'),
  d('stop-grace-period', 'duration', 'Time to wait before force killing a container (ns|us|ms|s|m|h)', undefined, '10s'),
  d('stop-signal', 'string', 'Signal to stop the container'),
  d('health-cmd', 'string', 'Command to run to check health'),
  d('health-interval', 'duration', 'Time between running the check (ms|s|m|h)'),
  d('health-timeout', 'duration', 'Maximum time to allow one check to run (ms|s|m|h)'),
  d('health-retries', 'int', 'Consecutive failures needed to report unhealthy'),
  d('health-start-period', 'duration', 'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)'),
  d('no-healthcheck', 'bool', 'Disable any container-specified HEALTHCHECK'),
];

export const CREATE_FLAGS: FlagDef[] = [
  d('name', 'string', 'Service name'),
  d('mode', 'string', 'Service mode (replicated or global)', undefined, '"replicated"'),
  d('publish', 'list', 'Publish a port as a node port', 'p'),
  d('env', 'list', 'Set environment variables', 'e'),
  d('label', 'list', 'Service labels', 'l'),
  d('container-label', 'list', 'Container labels'),
  d('constraint', 'list', 'Placement constraints'),
  d('placement-pref', 'list', 'Add a placement preference'),
  d('network', 'list', 'Network attachments'),
  d('dns', 'list', 'Set custom DNS servers'),
  d('dns-search', 'list', 'Set custom DNS search domains'),
  d('dns-option', 'list', 'Set DNS options'),
  ...COMMON_SERVICE_FLAGS,
];

export const UPDATE_FLAGS: FlagDef[] = [
  d('image', 'string', 'Service image tag'),
  d('args', 'string', 'Service command args'),
  d('force', 'bool', 'Force update even if no changes require it'),
  d('rollback', 'bool', 'Rollback to previous specification'),
  d('publish-add', 'list', 'Add or update a published port'),
  d('publish-rm', 'list', 'Remove a published port by its target port'),
  d('env-add', 'list', 'Add or update an environment variable'),
  d('env-rm', 'list', 'Remove an environment variable'),
  d('label-add', 'list', 'Add or update a service label'),
  d('label-rm', 'list', 'Remove a label by its key'),
  d('container-label-add', 'list', 'Add or update a container label'),
  d('container-label-rm', 'list', 'Remove a container label by its key'),
  d('constraint-add', 'list', 'Add or update a placement constraint'),
  d('constraint-rm', 'list', 'Remove a constraint'),
  d('placement-pref-add', 'list', 'Add a placement preference'),
  d('placement-pref-rm', 'list', 'Remove a placement preference'),
  d('network-add', 'list', 'Add a network'),
  d('network-rm', 'list', 'Remove a network'),
  d('dns-add', 'list', 'Add or update a custom DNS server'),
  d('dns-rm', 'list', 'Remove a custom DNS server'),
  d('dns-search-add', 'list', 'Add or update a custom DNS search domain'),
  d('dns-search-rm', 'list', 'Remove a DNS search domain'),
  d('dns-option-add', 'list', 'Add or update a DNS option'),
  d('dns-option-rm', 'list', 'Remove a DNS option'),
  ...COMMON_SERVICE_FLAGS,
];

/** Flags that only steer the CLI; anything else changes the spec and may not be combined with --rollback. */
export const CLI_ONLY_FLAGS = ['detach', 'quiet', 'rollback'];
