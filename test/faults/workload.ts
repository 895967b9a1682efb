import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { SseParser } from '../helpers/lanes.js';
import { TEST_SERVICE_KEY, waitFor } from '../helpers/server.js';
import { scale } from './figures.js';

/**
 * The traffic a fault scenario runs through two server nodes: direct messages (sender
 * and receiver on different nodes), lane events (published on one node, streamed from
 * the other) and pulse tasks (submitted on one node, worked on the other). Every client
 * does what a careful app does: retries with idempotency keys (clientMsgId, event id),
 * resumes (Last-Event-ID), fails over to the other node, and dedupes by id.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WorkloadCounts {
  dmsSent: number;
  dmsDelivered: number;
  dmsLost: number;
  dmDuplicatesAfterDedupe: number;
  dmRawDuplicates: number;
  eventsPublished: number;
  eventsReceived: number;
  eventsLost: number;
  eventDuplicates: number;
  tasksSubmitted: number;
  tasksDone: number;
  tasksLost: number;
  taskResultsReportedTwice: number;
  /** task:assign frames the worker received (at least once: can exceed tasks) */
  taskAssignments: number;
  /** ms from the fault's end until the first DM was acknowledged again */
  serviceBackMs: number;
}

/** A Socket.IO client that fails over between nodes when its node goes away. */
function failoverSocket(urls: () => string[], token: string) {
  let i = 0;
  let socket: Socket;
  const handlers: [string, (...a: any[]) => void][] = [];
  const connect = () => {
    const list = urls();
    const url = list[i++ % list.length]!;
    socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, timeout: 3_000 });
    for (const [ev, h] of handlers) socket.on(ev, h);
    socket.on('disconnect', () => setTimeout(connect, 100));
    socket.on('connect_error', () => setTimeout(connect, 200));
  };
  connect();
  return {
    on(ev: string, h: (...a: any[]) => void) {
      handlers.push([ev, h]);
      socket.on(ev, h);
    },
    get connected() {
      return socket.connected;
    },
    emit: (ev: string, p: unknown) => socket.emit(ev, p),
    async request(ev: string, p: unknown, ms = 3_000): Promise<any> {
      if (!socket.connected) throw new Error('not connected');
      return socket.timeout(ms).emitWithAck(ev, p);
    },
    close() {
      handlers.length = 0;
      socket.removeAllListeners();
      socket.close();
    },
  };
}

async function postWithFailover(urls: () => string[], path: string, body: unknown, token: string) {
  for (let attempt = 0; ; attempt++) {
    const list = urls();
    const url = list[attempt % list.length]!;
    try {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      if (res.status < 300) return res.json() as Promise<any>;
      if (res.status < 500 && res.status !== 429)
        throw new Error(`${path}: ${res.status} ${await res.text()}`);
    } catch (error) {
      if ((error as Error).message.startsWith(path)) throw error;
    }
    await sleep(150);
  }
}

/** A lane subscriber that resumes with Last-Event-ID on whichever node answers. */
function resumingLane(urls: () => string[], sid: string, token: string, onEvent: (data: string) => void) {
  let stopped = false;
  // '0': replay everything retained, so events published before the first connect count
  let lastId = '0';
  let controller: AbortController | undefined;
  (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      const list = urls();
      const url = list[attempt % list.length]!;
      controller = new AbortController();
      try {
        const res = await fetch(`${url}/v1/session/${sid}/lane/catalog`, {
          headers: { authorization: `Bearer ${token}`, 'last-event-id': lastId },
          signal: controller.signal,
        });
        if (res.status === 200 && res.body) {
          const parser = new SseParser();
          const decoder = new TextDecoder();
          let seen = 0;
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            parser.feed(decoder.decode(chunk, { stream: true }));
            for (; seen < parser.events.length; seen++) {
              const e = parser.events[seen]!;
              if (e.id !== undefined) lastId = e.id;
              if (e.event === 'update') onEvent(e.data);
            }
          }
        }
      } catch {}
      await sleep(150);
    }
  })();
  return {
    close() {
      stopped = true;
      controller?.abort();
    },
  };
}

/** A pulse worker that reconnects (to either node) and completes every task it is given. */
function resilientWorker(
  urls: () => string[],
  token: string,
  nodeId: string,
  onResult: (taskId: string) => void,
) {
  let stopped = false;
  let ws: WebSocket | undefined;
  let attempt = 0;
  const connect = () => {
    if (stopped) return;
    const list = urls();
    const url = list[attempt++ % list.length]!.replace('http', 'ws');
    ws = new WebSocket(`${url}/pulse/stream?token=${token}`);
    ws.on('open', () => {
      ws?.send(JSON.stringify({ type: 'register', data: { nodeId, capabilities: ['echo'], maxTasks: 16 } }));
    });
    ws.on('message', (raw) => {
      if (process.env.P3_DEBUG_WORKER) console.log('worker <-', String(raw).slice(0, 160));
      const f = JSON.parse(String(raw)) as { type: string; data: { taskId: string; payload: unknown } };
      if (f.type === 'task:assign') {
        onResult(f.data.taskId);
        ws?.send(
          JSON.stringify({
            type: 'task:result',
            data: { taskId: f.data.taskId, ok: true, result: f.data.payload },
          }),
        );
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => setTimeout(connect, 150));
  };
  connect();
  return {
    close() {
      stopped = true;
      ws?.terminate();
    },
  };
}

/** The traffic of one fault scenario: short inside `npm test`, full in `npm run test:faults`. */
export const WORKLOAD_SIZE = {
  dms: scale(150, 1_000),
  events: scale(150, 1_000),
  tasks: scale(30, 200),
  deadlineMs: 90_000,
};

/** The counts of a run in words, for RELIABILITY.md. */
export function describeCounts(c: WorkloadCounts): string {
  return (
    `DMs ${c.dmsDelivered}/${c.dmsSent} (lost ${c.dmsLost}, duplicates after dedupe ${c.dmDuplicatesAfterDedupe}, raw redeliveries ${c.dmRawDuplicates}); ` +
    `lane events ${c.eventsReceived}/${c.eventsPublished} (lost ${c.eventsLost}); tasks ${c.tasksDone}/${c.tasksSubmitted} (lost ${c.tasksLost})`
  );
}

export interface WorkloadOptions {
  /** The nodes' base URLs, alive ones first (a function: the set changes during a fault). */
  urls: () => string[];
  sender: { token: string };
  receiver: { token: string; address: string };
  dms: number;
  events: number;
  tasks: number;
  /** Runs once a third of the traffic is through; resolves when the fault is over. */
  fault: () => Promise<void>;
  deadlineMs: number;
}

export async function runWorkload(o: WorkloadOptions): Promise<WorkloadCounts> {
  const deadline = Date.now() + o.deadlineMs;
  const sender = failoverSocket(() => o.urls(), o.sender.token);
  // the receiver starts on the last node, the sender on the first: every DM crosses nodes
  const receiver = failoverSocket(() => [...o.urls()].reverse(), o.receiver.token);
  const bySeq = new Map<number, Set<string>>();
  let rawReceives = 0;
  receiver.on('message:receive', (m: { id: string; content: string }) => {
    rawReceives++;
    const seq = Number(m.content.split(':')[1]);
    const ids = bySeq.get(seq) ?? new Set<string>();
    bySeq.set(seq, ids);
    ids.add(m.id);
    receiver.emit('message:ack', { ids: [m.id] });
  });
  await waitFor(() => sender.connected && receiver.connected, { timeoutMs: 15_000, what: 'sockets' });

  const sid = (await postWithFailover(o.urls, '/v1/session', {}, o.receiver.token)).sid as string;
  const laneSeqs: number[] = [];
  const lane = resumingLane(
    () => [...o.urls()].reverse(),
    sid,
    o.receiver.token,
    (data) => {
      laneSeqs.push((JSON.parse(data) as { seq: number }).seq);
    },
  );
  const results = new Map<string, number>();
  const worker = resilientWorker(
    () => [...o.urls()].reverse(),
    o.receiver.token,
    `fault-worker-${sid.slice(0, 6)}`,
    (id) => results.set(id, (results.get(id) ?? 0) + 1),
  );

  let faultDone: Promise<void> | undefined;
  let faultEndedAt = 0;
  let backAt = 0;
  const maybeFault = (progress: number) => {
    if (!faultDone && progress >= 1 / 3) {
      faultDone = o.fault().then(() => {
        faultEndedAt = Date.now();
      });
    }
  };

  const sendDms = (async () => {
    for (let seq = 0; seq < o.dms; seq++) {
      maybeFault(seq / o.dms);
      for (;;) {
        if (Date.now() > deadline) throw new Error(`DM ${seq} not accepted before the deadline`);
        try {
          const ack = await sender.request('message:send', {
            to: o.receiver.address,
            content: `dm:${seq}`,
            clientMsgId: `fault-${seq}`,
          });
          if (ack.ok) {
            if (faultEndedAt && !backAt) backAt = Date.now();
            break;
          }
        } catch {}
        await sleep(100);
      }
    }
  })();
  const publishEvents = (async () => {
    for (let i = 0; i < o.events; i += 10) {
      const batch = Array.from({ length: Math.min(10, o.events - i) }, (_, j) => ({
        type: 'update',
        id: `ev-${i + j}`,
        data: { seq: i + j },
      }));
      await postWithFailover(o.urls, `/v1/session/${sid}/lane/catalog/events`, batch, TEST_SERVICE_KEY);
      await sleep(20);
    }
  })();
  const taskIds: string[] = [];
  const submitTasks = (async () => {
    for (let i = 0; i < o.tasks; i++) {
      const r = await postWithFailover(
        o.urls,
        '/v1/pulse/tasks',
        // an attempt whose result meets the outage waits out its 3 s deadline before the next
        // one. One run under the full suite ended with a task not done (cause not seen: the
        // status of such a task is now printed); more attempts than the default 3 leave room
        {
          kind: 'echo',
          payload: { i },
          capability: 'echo',
          timeoutMs: 3_000,
          maxAttempts: Number(process.env.P3_TEST_TASK_ATTEMPTS ?? 10),
        },
        TEST_SERVICE_KEY,
      );
      taskIds.push(r.taskId);
      await sleep(30);
    }
  })();
  await Promise.all([sendDms, publishEvents, submitTasks]);
  await faultDone;

  const taskDone = async (id: string) => {
    for (const url of o.urls()) {
      try {
        const res = await fetch(`${url}/v1/pulse/tasks/${id}`, {
          headers: { authorization: `Bearer ${TEST_SERVICE_KEY}` },
        });
        if (res.status === 200) return ((await res.json()) as { status: string }).status === 'done';
      } catch {}
    }
    return false;
  };
  const remaining = async () => {
    const pending: string[] = [];
    for (const id of taskIds) if (!(await taskDone(id))) pending.push(id);
    return pending;
  };
  await waitFor(() => bySeq.size >= o.dms, {
    timeoutMs: Math.max(1_000, deadline - Date.now()),
    what: 'DMs',
  }).catch(() => {});
  await waitFor(() => new Set(laneSeqs).size >= o.events, {
    timeoutMs: Math.max(1_000, deadline - Date.now()),
    what: 'lane events',
  }).catch(() => {});
  let pendingTasks = await remaining();
  while (pendingTasks.length > 0 && Date.now() < deadline) {
    await sleep(300);
    pendingTasks = await remaining();
  }
  // what became of a task that did not finish (its status, attempts and error), for the failure message
  for (const id of pendingTasks) {
    for (const url of o.urls()) {
      const res = await fetch(`${url}/v1/pulse/tasks/${id}`, {
        headers: { authorization: `Bearer ${TEST_SERVICE_KEY}` },
      }).catch(() => undefined);
      if (res?.status === 200) {
        console.log(`task not done: ${JSON.stringify(await res.json()).slice(0, 400)}`);
        break;
      }
    }
  }

  sender.close();
  receiver.close();
  lane.close();
  worker.close();
  let dupAfterDedupe = 0;
  for (const ids of bySeq.values()) dupAfterDedupe += ids.size - 1;
  const uniqueEvents = new Set(laneSeqs).size;
  return {
    dmsSent: o.dms,
    dmsDelivered: bySeq.size,
    dmsLost: o.dms - bySeq.size,
    dmDuplicatesAfterDedupe: dupAfterDedupe,
    dmRawDuplicates: rawReceives - bySeq.size,
    eventsPublished: o.events,
    eventsReceived: uniqueEvents,
    eventsLost: o.events - uniqueEvents,
    eventDuplicates: laneSeqs.length - uniqueEvents,
    tasksSubmitted: taskIds.length,
    tasksDone: taskIds.length - pendingTasks.length,
    tasksLost: pendingTasks.length,
    taskResultsReportedTwice: [...results.values()].filter((n) => n > 1).length,
    taskAssignments: [...results.values()].reduce((a, b) => a + b, 0),
    serviceBackMs: backAt && faultEndedAt ? backAt - faultEndedAt : Number.NaN,
  };
}
