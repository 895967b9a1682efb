import { ErrorCode } from '../../protocol/errors.js';
import { PulseErrorCode, PulsePaths, type SubmitTaskResponse } from '../../protocol/pulse.js';
import { describeIssues, SubmitTaskSchema } from '../../protocol/pulse.schema.js';
import type { AuthContext } from '../auth/index.js';
import type { Config } from '../config.js';
import { readJson } from '../http/body.js';
import { badRequest, HttpError, sendJson } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { toView } from './task-store.js';
import type { TaskQueue } from './tasks.js';

/** `POST /v1/pulse/tasks` and `GET /v1/pulse/tasks/:taskId`, both for the service key. */
export function mountTaskRoutes(router: Router, auth: AuthContext, config: Config, tasks: TaskQueue): void {
  // a task's payload travels to a node in one frame: no bigger than a frame may be
  const maxBody = Math.min(config.maxBodyBytes, config.maxFrameBytes);

  router.post(PulsePaths.tasks, async ({ req, res }) => {
    auth.requireService(req);
    const parsed = SubmitTaskSchema.safeParse(await readJson(req, maxBody));
    if (!parsed.success) throw badRequest(describeIssues(parsed.error));
    const taskId = await tasks.submit(parsed.data);
    if (!taskId) {
      throw new HttpError(
        503,
        PulseErrorCode.queueFull,
        `The queue of capability ${parsed.data.capability ?? parsed.data.kind} is full`,
        { 'Retry-After': '1' },
      );
    }
    const body: SubmitTaskResponse = { taskId };
    sendJson(res, 202, body);
  });

  router.get(PulsePaths.task, async ({ req, res, params }) => {
    auth.requireService(req);
    const taskId = params.taskId ?? '';
    const record = taskId.length <= 128 ? await tasks.get(taskId) : null;
    if (!record) throw new HttpError(404, ErrorCode.notFound, `No task ${taskId.slice(0, 128)}`);
    sendJson(res, 200, toView(record));
  });
}
