/**
 * What the agent asks the node's data plane around a task's life (implemented by the endpoint publisher):
 * admit before reporting RUNNING, so RUNNING means "answers by name and through the mesh"; evict before stopping,
 * so a task being stopped gets no new traffic. Both resolve once the node's sinks agree (or after a bounded wait).
 */
export interface TaskGate {
  admit(taskId: string): Promise<void>;
  evict(taskId: string): Promise<void>;
}
