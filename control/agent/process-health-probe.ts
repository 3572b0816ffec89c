/**
 * A process task's health probe: the check's command run where the task runs — inside its network, UTS and mount
 * namespaces (so `localhost`, the task's hostname and its resolv.conf are the task's), with the task's
 * environment and working directory from launch.json, as root like the task — by `nsenter --target PID`. This is
 * what `docker exec` is to Docker's own probes. CMD-SHELL goes through /bin/sh -c, CMD is exec'd as is (found on
 * the task's PATH). On the monitor's timeout the probe's whole process group is killed.
 */
import type { Task } from '../api/types';
import { execCapture } from '../base/exec';
import { healthTest, type HealthTest } from './health-config';
import { MAX_OUTPUT_BYTES, type RunProbe } from './health-monitor';
import { DEFAULT_PATH, resolveCommand } from './process-task-plan';
import { isAlive, type TaskFiles } from './process-task-files';

export interface ProbeCommand {
  test: HealthTest;
  /** nsenter's absolute path on this node. */
  nsenter: string;
}

/**
 * What the task's health check runs, or undefined when it has none. Throws a message naming the fix when the
 * check cannot run on this node, so prepare() refuses the task before it starts.
 */
export function probeCommand(task: Task): ProbeCommand | undefined {
  let test: HealthTest | undefined;
  try {
    test = healthTest(task.Spec.ContainerSpec.Healthcheck);
  } catch (e) {
    throw new Error(`invalid health check: ${(e as Error).message}`);
  }
  if (!test) return undefined;
  let nsenter: string;
  try {
    nsenter = resolveCommand('nsenter', `${DEFAULT_PATH}:${process.env.PATH ?? ''}`, '/');
  } catch {
    throw new Error('the task has a health check, which the process executor runs with nsenter: install util-linux on this node');
  }
  return { test, nsenter };
}

/** nsenter's argv for one probe of the task whose process is pid. */
export function probeArgv(cmd: ProbeCommand, pid: number, cwd: string): string[] {
  return [cmd.nsenter, `--target=${pid}`, '--net', '--uts', '--mount', `--wd=${cwd}`, '--', ...cmd.test.argv];
}

/** The probe the health monitor runs, for the task whose files these are. */
export function processProbe(cmd: ProbeCommand, files: TaskFiles): RunProbe {
  return async (signal) => {
    const state = files.readState();
    const launch = files.readLaunch();
    if (!state || !launch || !isAlive(state.pid, state.startTime)) {
      return { exitCode: -1, output: 'the task\'s process is not running' };
    }
    return execCapture(probeArgv(cmd, state.pid, launch.cwd), { env: launch.env, cwd: '/', signal, maxBytes: MAX_OUTPUT_BYTES });
  };
}
