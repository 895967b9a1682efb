import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from '../helpers/process.js';
import { REDIS_URL } from '../helpers/server.js';
import { signIn } from '../helpers/siwe.js';
import { recordFigure } from './figures.js';
import { describeCounts, runWorkload, WORKLOAD_SIZE } from './workload.js';

/**
 * A server node killed with SIGKILL under load: its clients fail over to the other node
 * and lose nothing (messages, lane events, tasks); what it held (tasks it had assigned)
 * is taken over by the surviving node.
 */
describe('server node killed with SIGKILL under load', () => {
  let nodes: ServerProcess[];
  let alive: ServerProcess[];
  beforeAll(async () => {
    const env = { REDIS_URL, WS_HEARTBEAT_INTERVAL: '300', WS_HEARTBEAT_TIMEOUT: '1500' };
    nodes = [await spawnServer(env), await spawnServer(env)];
    alive = [...nodes];
  }, 180_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  });

  it('fails over with nothing lost', async () => {
    const sender = await signIn(nodes[0]!.url);
    const receiver = await signIn(nodes[1]!.url);
    let killedAt = 0;
    const counts = await runWorkload({
      urls: () => alive.map((n) => n.url),
      sender,
      receiver,
      ...WORKLOAD_SIZE,
      fault: async () => {
        // the sender's node (and the one that took the task submissions) dies
        const victim = nodes[0]!;
        alive = alive.filter((n) => n !== victim);
        killedAt = Date.now();
        await victim.stop('SIGKILL');
      },
    });
    const survivorUp = nodes[1]!.proc.exitCode === null && nodes[1]!.proc.signalCode === null;
    recordFigure('node-kill', {
      scenario: 'Server node SIGKILLed under load (2 nodes on Redis)',
      reference:
        'Centrifugo/Socket.IO with Redis: clients reconnect to a live node; history recovers missed messages',
      measured: `${describeCounts(counts)}; DMs acknowledged again ${Math.round(counts.serviceBackMs)} ms after the kill`,
      numbers: { ...counts, killedAt },
    });
    expect(survivorUp).toBe(true);
    expect(counts.dmsLost).toBe(0);
    expect(counts.dmDuplicatesAfterDedupe).toBe(0);
    expect(counts.eventsLost).toBe(0);
    expect(counts.tasksLost).toBe(0);
  }, 150_000);
});
