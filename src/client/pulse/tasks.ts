import {
  PulsePaths,
  type SubmitTaskRequest,
  type SubmitTaskResponse,
  type TaskView,
} from '../../protocol/pulse.js';
import { ClientError } from '../errors.js';
import { requestJson } from '../http.js';
import { sleep } from '../ids.js';
import { type FetchLike, httpUrl, resolveFetch } from '../platform.js';

export interface TaskClientOptions {
  url: string;
  /** The service key (`P3_SERVICE_KEY`): for backends only, never ship it to a browser. */
  serviceKey: string;
  fetch?: FetchLike;
}

export interface TaskClient {
  submit(task: SubmitTaskRequest): Promise<SubmitTaskResponse>;
  get(taskId: string): Promise<TaskView>;
  /** Polls until the task is `done` or `failed`. */
  wait(taskId: string, options?: { timeoutMs?: number; intervalMs?: number }): Promise<TaskView>;
}

/**
 * Submitting and reading Pulse tasks (service key), for backends and tests.
 *
 * @example
 * const tasks = createTaskClient({ url, serviceKey: process.env.P3_SERVICE_KEY! });
 * const { taskId } = await tasks.submit({ kind: 'resize', payload: { w: 100 } });
 * const done = await tasks.wait(taskId);
 */
export function createTaskClient(options: TaskClientOptions): TaskClient {
  const fetchFn = resolveFetch(options.fetch);
  const client: TaskClient = {
    submit: (task) =>
      requestJson<SubmitTaskResponse>(fetchFn, httpUrl(options.url, PulsePaths.tasks), {
        token: options.serviceKey,
        body: task,
      }),
    get: (taskId) =>
      requestJson<TaskView>(
        fetchFn,
        httpUrl(options.url, PulsePaths.task.replace(':taskId', encodeURIComponent(taskId))),
        { token: options.serviceKey },
      ),
    async wait(taskId, { timeoutMs = 60_000, intervalMs = 200 } = {}) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const view = await client.get(taskId);
        if (view.status === 'done' || view.status === 'failed') return view;
        if (Date.now() > until) throw new ClientError('timeout', `Task ${taskId} is still ${view.status}`);
        await sleep(intervalMs);
      }
    },
  };
  return client;
}
