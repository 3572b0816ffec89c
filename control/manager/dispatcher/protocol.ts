/**
 * The dispatcher protocol between a node's agent and the managers, over gRPC (HTTP/2) with a JSON codec:
 * the same four calls as swarmkit's Dispatcher service — Session (a stream that opens the node's session),
 * Heartbeat, Assignments (a stream of the node's tasks: first the complete set, then incremental changes) and
 * UpdateTaskStatus. JSON keeps the messages identical to the API's task objects.
 */
import * as grpc from '@grpc/grpc-js';
import type { NodeDescription, Task, TaskStatus } from '../../api/types';

export interface SessionRequest {
  nodeId: string;
  description: NodeDescription;
  /** The address the node is reachable at, as the agent sees it. */
  addr?: string;
}
export interface SessionMessage {
  sessionId: string;
  heartbeatPeriodMs: number;
}
export interface HeartbeatRequest {
  sessionId: string;
}
export interface HeartbeatResponse {
  periodMs: number;
}
export interface AssignmentsRequest {
  sessionId: string;
}
export interface AssignmentChange {
  action: 'update' | 'remove';
  task: Task;
}
export interface AssignmentsMessage {
  type: 'complete' | 'incremental';
  changes: AssignmentChange[];
  /** A complete set continues in the next message (large nodes get it in several). */
  more?: boolean;
}
export interface TaskStatusUpdate {
  taskId: string;
  status: TaskStatus;
}
export interface UpdateTaskStatusRequest {
  sessionId: string;
  updates: TaskStatusUpdate[];
}

const serialize = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const deserialize = (bytes: Buffer): any => JSON.parse(bytes.toString('utf8'));

const method = (name: string, responseStream: boolean) => ({
  path: `/shoal.Dispatcher/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: serialize,
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: deserialize,
});

export const dispatcherService = {
  session: method('Session', true),
  heartbeat: method('Heartbeat', false),
  assignments: method('Assignments', true),
  updateTaskStatus: method('UpdateTaskStatus', false),
} satisfies grpc.ServiceDefinition;

export interface DispatcherClient extends grpc.Client {
  session(req: SessionRequest, opts?: grpc.CallOptions): grpc.ClientReadableStream<SessionMessage>;
  heartbeat(
    req: HeartbeatRequest,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: HeartbeatResponse) => void,
  ): grpc.ClientUnaryCall;
  assignments(req: AssignmentsRequest, opts?: grpc.CallOptions): grpc.ClientReadableStream<AssignmentsMessage>;
  updateTaskStatus(
    req: UpdateTaskStatusRequest,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: object) => void,
  ): grpc.ClientUnaryCall;
}

export const DispatcherClientCtor = grpc.makeGenericClientConstructor(dispatcherService, 'Dispatcher') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => DispatcherClient;
