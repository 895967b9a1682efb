import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenService } from '../../src/server/auth/tokens.js';
import { createSession, openStream, publish } from '../helpers/lanes.js';
import { connect } from '../helpers/messaging.js';
import { type ServerProcess, spawnServer } from '../helpers/process.js';
import { PulseClient } from '../helpers/pulse.js';
import { TEST_SECRET, uniqueId, waitFor } from '../helpers/server.js';
import { connectPeer, join } from '../helpers/signaling.js';
import { newAccount } from '../helpers/siwe.js';
import { recordFigure } from './figures.js';

/**
 * Slow consumers on every surface, against one real server process: a client that stops
 * reading (its TCP receive window fills, then the server's send buffer) is dropped at its
 * cap (signaling, SSE lanes, Socket.IO) or has its metrics coalesced (pulse dashboard);
 * the server's resident memory stays bounded (measured in /proc); a healthy client of the
 * same surface keeps its round-trip time while the slow one is flooded.
 */
const SEND_BUFFER = 256 * 1024;
/** RSS growth allowed while one consumer is stalled and flooded (cap + kernel + GC slack). */
const MEMORY_BUDGET = 64 * 1024 * 1024;
/** A healthy client's worst round trip allowed during the flood. */
const HEALTHY_P95_MS = 250;
/** Stop flooding after this much even if the slow client was never dropped (the test then fails). */
const FLOOD_LIMIT = 400 * 1024 * 1024;

const tokens = createTokenService({ secret: TEST_SECRET, ttlSec: 3600 });
const user = async () => {
  const { address } = newAccount();
  return { address, token: (await tokens.issue(address)).token };
};

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function metric(url: string, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith(name) &&
      (line[name.length] === ' ' || line[name.length] === '{') &&
      line.includes(label)
    ) {
      sum += Number(line.split(' ').at(-1));
    }
  }
  return sum;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const MB = (b: number) => Math.round(b / 1024 / 104.8576) / 10;

interface Flood {
  /** Sends one burst toward the slow client; resolves with the bytes sent. */
  burst(): Promise<number>;
  /** True once the server dropped (or, for pulse, coalesced for) the slow client. */
  done(): Promise<boolean>;
}

/** A flood of a fixed volume (the control: the same traffic toward a consumer that reads). */
function fixed(burst: () => Promise<number>, bytes: number): Flood {
  let pushed = 0;
  return {
    async burst() {
      const n = await burst();
      pushed += n;
      return n;
    },
    async done() {
      return pushed >= bytes;
    },
  };
}
/** The control flood (toward the same consumer while it still reads). */
const CONTROL_BYTES = 8 * 1024 * 1024;

/**
 * Measures a healthy client's round trips (before, and while `flood` runs until done),
 * and the server's RSS (baseline, peak).
 */
async function measure(server: ServerProcess, probe: () => Promise<number>, flood: Flood) {
  const baseline: number[] = [];
  for (let i = 0; i < 20; i++) baseline.push(await probe());
  const rssBefore = rss(server.proc.pid!);
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rss(server.proc.pid!));
  }, 20);
  let flooding = true;
  const during: number[] = [];
  const prober = (async () => {
    while (flooding) {
      during.push(await probe());
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const started = Date.now();
  let sent = 0;
  let dropped = false;
  try {
    while (sent < FLOOD_LIMIT) {
      sent += await flood.burst();
      if (await flood.done()) {
        dropped = true;
        break;
      }
    }
  } finally {
    flooding = false;
    await prober;
    clearInterval(sampler);
  }
  peak = Math.max(peak, rss(server.proc.pid!));
  return {
    dropped,
    sent,
    ms: Date.now() - started,
    rssGrowth: peak - rssBefore,
    baseP50: pct(baseline, 50),
    baseP95: pct(baseline, 95),
    p50: pct(during, 50),
    p95: pct(during, 95),
    probes: during.length,
  };
}

describe('slow consumers on every surface', () => {
  let s: ServerProcess;
  beforeAll(async () => {
    s = await spawnServer({
      P3_SEND_BUFFER_BYTES: String(SEND_BUFFER),
      P3_RATE_LIMIT: '1000000',
      P3_RATE_BURST: '1000000',
      P3_LANE_HISTORY: '100',
    });
  }, 120_000);
  afterAll(async () => {
    await s?.stop('SIGKILL');
  });

  type Result = Awaited<ReturnType<typeof measure>>;
  const record = (surface: string, how: string, r: Result, ctrl: Result, extra = '') => {
    recordFigure('slow-consumers', {
      scenario: `Slow consumer on ${surface}`,
      reference:
        'Centrifugo client queue limit / Socket.IO and ws bufferedAmount guards: a reader that stops is disconnected at a bounded queue, others unaffected',
      measured: `${how} after ${MB(r.sent)} MB pushed in ${r.ms} ms (send buffer cap ${SEND_BUFFER / 1024} KiB); server RSS +${MB(r.rssGrowth)} MB at peak (+${MB(ctrl.rssGrowth)} MB while it read); healthy client round trip p50/p95 ${r.baseP50}/${r.baseP95} ms before, ${r.p50}/${r.p95} ms during (${r.probes} probes); the same traffic (${MB(ctrl.sent)} MB) toward it while it read: ${ctrl.p50}/${ctrl.p95} ms${extra}`,
      numbers: {
        dropped: r.dropped ? 1 : 0,
        pushedBytes: r.sent,
        ms: r.ms,
        rssGrowthBytes: r.rssGrowth,
        healthyBaseP95Ms: r.baseP95,
        healthyP50Ms: r.p50,
        healthyP95Ms: r.p95,
        controlP95Ms: ctrl.p95,
        controlRssGrowthBytes: ctrl.rssGrowth,
      },
    });
  };
  /** Healthy latency: what the flood itself costs (the control) is not the slow consumer's harm. */
  const unharmed = (r: Result, ctrl: Result) =>
    expect(r.p95).toBeLessThan(Math.max(HEALTHY_P95_MS, 3 * ctrl.p95 + 20));
  const check = (r: Result, ctrl: Result) => {
    expect(r.dropped).toBe(true);
    expect(r.rssGrowth).toBeLessThan(MEMORY_BUDGET);
    unharmed(r, ctrl);
  };

  it('/signaling: a relay receiver that stops reading is dropped at its cap', async () => {
    const room = uniqueId('slow');
    const [su, fu, hu] = await Promise.all([user(), user(), user()]);
    const slow = await connectPeer(s, { token: su.token });
    const flooder = await connectPeer(s, { token: fu.token });
    const healthy = await connectPeer(s, { token: hu.token });
    await join(slow, room);
    await join(flooder, room);
    await join(healthy, uniqueId('healthy'));
    const sdp = 'a'.repeat(16 * 1024);
    const signalingProbe = async () => {
      const t0 = performance.now();
      healthy.send({ type: 'ping' });
      await healthy.next('pong');
      return Math.round(performance.now() - t0);
    };
    const relay = async () => {
      for (let i = 0; i < 4; i++)
        flooder.send({ type: 'offer', roomId: room, to: slow.peerId, data: { type: 'offer', sdp } });
      await waitFor(() => flooder.ws.bufferedAmount === 0, { intervalMs: 1, what: 'flooder drained' });
      // a steady ~10 MB/s in both phases, so the healthy client sees the same load from the
      // flood itself and any difference is the stalled receiver's
      await new Promise((r) => setTimeout(r, 5));
      return 4 * sdp.length;
    };
    // the control: the same traffic while the receiver reads (paced to what it has read:
    // a reader slower than the flood is itself past the cap after a few hundred KiB)
    const offers = () => slow.frames.filter((f) => f.type === 'offer').length;
    let relayed = 0;
    const ctrl = await measure(
      s,
      signalingProbe,
      fixed(async () => {
        const n = await relay();
        relayed += 4;
        await waitFor(() => offers() >= relayed || !slow.isOpen(), { intervalMs: 1, what: 'the reader' });
        return n;
      }, CONTROL_BYTES),
    );
    expect(slow.isOpen()).toBe(true);
    slow.ws.pause();
    const before = await metric(s.url, 'p3_signaling_closed_total', 'slow_consumer');
    const r = await measure(s, signalingProbe, {
      burst: relay,
      async done() {
        return flooder.frames.some((f) => f.type === 'peer_left' && f.peerId === slow.peerId);
      },
    });
    const closes = (await metric(s.url, 'p3_signaling_closed_total', 'slow_consumer')) - before;
    record(
      '/signaling (relay receiver)',
      `dropped (slow_consumer closes ${closes}, peer_left to the room)`,
      r,
      ctrl,
    );
    check(r, ctrl);
    expect(closes).toBe(1);
    slow.ws.terminate();
    await Promise.all([flooder.close(), healthy.close()]);
  }, 60_000);

  it('/pulse/stream: a dashboard that stops reading gets its metrics coalesced, not queued', async () => {
    const [du, nu, hu] = await Promise.all([user(), user(), user()]);
    const dash = await PulseClient.open(s.wsUrl, du.token);
    await dash.request('subscribe', { topics: ['metrics', 'nodes'] }, 'snapshot');
    const node = await PulseClient.open(s.wsUrl, nu.token);
    const nodeId = uniqueId('slow-node');
    await node.request('register', { nodeId, capabilities: ['x'] }, 'registered');
    const healthy = await PulseClient.open(s.wsUrl, hu.token);
    // 64 metrics of long names: ~5 KiB a frame; `seq` tells the newest
    const names = Array.from({ length: 63 }, (_, i) => `metric_${i}_${'x'.repeat(50)}`);
    let seq = 0;
    const frameBytes = JSON.stringify({
      type: 'metrics',
      data: Object.fromEntries(names.map((n) => [n, 1])),
    }).length;
    const burst = async () => {
      for (let i = 0; i < 32; i++) {
        seq++;
        node.send('metrics', { seq, ...Object.fromEntries(names.map((n) => [n, seq])) });
      }
      await waitFor(() => node.ws.bufferedAmount === 0, { intervalMs: 1, what: 'node drained' });
      // a steady rate in both phases (as for signaling)
      await new Promise((r) => setTimeout(r, 5));
      return 32 * frameBytes;
    };
    const probe = async () => {
      const t0 = performance.now();
      await healthy.request('ping', undefined, 'pong');
      return Math.round(performance.now() - t0);
    };
    // flood well past the cap, then stop: pulse never drops a dashboard for metrics
    const target = 16 * SEND_BUFFER + 8 * 1024 * 1024;
    // the control first: the same flood while the dashboard reads
    const ctrl = await measure(s, probe, fixed(burst, target));
    await dash.waitFor((f) => f.type === 'metrics' && f.data?.metrics?.seq === seq, {
      what: 'control drained',
    });
    const from = dash.frames.length;
    const firstSeq = seq + 1;
    dash.ws.pause();
    const before = await metric(s.url, 'p3_pulse_metrics_coalesced_total');
    const r = await measure(s, probe, fixed(burst, target));
    const sent = seq - firstSeq + 1;
    const coalesced = (await metric(s.url, 'p3_pulse_metrics_coalesced_total')) - before;
    const stillOpen = dash.closed === undefined;
    dash.ws.resume();
    const last = await dash.waitFor((f) => f.type === 'metrics' && f.data?.metrics?.seq === seq, {
      from,
      timeoutMs: 20_000,
      what: `the newest metrics (seq ${seq})`,
    });
    const received = dash.frames.slice(from).filter((f) => f.type === 'metrics').length;
    record(
      '/pulse/stream (dashboard)',
      `coalesced, not dropped (${sent} metrics frames sent while it stalled, ${received} reached it, ${coalesced} replaced by newer ones; it got the newest, seq ${last.data.metrics.seq}, on resume)`,
      { ...r, dropped: false },
      ctrl,
    );
    expect(stillOpen).toBe(true);
    expect(coalesced).toBeGreaterThan(0);
    expect(received).toBeLessThan(sent);
    expect(r.rssGrowth).toBeLessThan(MEMORY_BUDGET);
    unharmed(r, ctrl);
    await Promise.all([dash.close(), node.close(), healthy.close()]);
  }, 60_000);

  it('SSE lanes: a reader that stops reading is cut at its cap; others keep their latency', async () => {
    const [su, hu] = await Promise.all([user(), user()]);
    const sid = await createSession(s.url, su.token);
    const hsid = await createSession(s.url, hu.token);
    const slow = await openStream(s.url, `/v1/session/${sid}/lane/catalog`, { token: su.token });
    const healthy = await openStream(s.url, `/v1/session/${hsid}/lane/catalog`, { token: hu.token });
    await slow.waitForEvents(1);
    await healthy.waitForEvents(1);
    const data = { blob: 'b'.repeat(32 * 1024) };
    let probeSeq = 0;
    const probe = async () => {
      const n = ++probeSeq;
      const t0 = performance.now();
      await publish(s.url, hsid, 'catalog', { type: 'probe', data: { n } });
      await waitFor(() => healthy.parser.events.some((e) => e.event === 'probe' && e.data === `{"n":${n}}`), {
        intervalMs: 1,
        what: 'probe event',
      });
      return Math.round(performance.now() - t0);
    };
    const burst = async () => {
      const batch = Array.from({ length: 16 }, () => ({ type: 'flood', data }));
      const res = await publish(s.url, sid, 'catalog', batch);
      expect(res.status).toBe(200);
      return 16 * data.blob.length;
    };
    // the control: the same flood while the reader still reads
    const floods = () => slow.parser.events.filter((e) => e.event === 'flood').length;
    let published = 0;
    const ctrl = await measure(
      s,
      probe,
      fixed(async () => {
        const n = await burst();
        published += 16;
        await waitFor(() => floods() >= published, { intervalMs: 1, what: 'the reader' });
        return n;
      }, CONTROL_BYTES),
    );
    slow.pause();
    const before = await metric(s.url, 'p3_lanes_stream_closes_total', 'slow');
    const r = await measure(s, probe, {
      burst,
      async done() {
        return (await metric(s.url, 'p3_lanes_stream_closes_total', 'slow')) > before;
      },
    });
    record('SSE lane (reader)', 'cut (stream close reason "slow"; it resumes with Last-Event-ID)', r, ctrl);
    check(r, ctrl);
    slow.close();
    healthy.close();
  }, 60_000);

  it('Socket.IO: a DM receiver that stops reading is dropped; other conversations keep their latency', async () => {
    const [ru, fu, au, bu] = await Promise.all([user(), user(), user(), user()]);
    const slow = await connect(s.url, ru.token, { transports: ['websocket'] });
    const flooder = await connect(s.url, fu.token, { transports: ['websocket'] });
    const a = await connect(s.url, au.token, { transports: ['websocket'] });
    const b = await connect(s.url, bu.token, { transports: ['websocket'] });
    const raw = (
      slow.io.engine as unknown as { transport: { ws: { _socket: { pause(): void; destroy(): void } } } }
    ).transport.ws._socket;
    const content = 'c'.repeat(16 * 1024);
    let n = 0;
    const probe = async () => {
      const tag = `probe-${++n}`;
      const got = new Promise<void>((resolve) => {
        const on = (m: { content: string }) => {
          if (m.content === tag) {
            b.off('message:receive', on);
            resolve();
          }
        };
        b.on('message:receive', on);
      });
      const t0 = performance.now();
      await a.timeout(10_000).emitWithAck('message:send', { to: bu.address, content: tag });
      await got;
      return Math.round(performance.now() - t0);
    };
    const burst = (to: string) => async () => {
      const acks = await Promise.all(
        Array.from({ length: 64 }, () =>
          flooder.timeout(20_000).emitWithAck('message:send', { to, content }),
        ),
      );
      expect(acks.every((x) => x.ok)).toBe(true);
      return 64 * content.length;
    };
    // the control: the same flood while the receiver still reads
    let got = 0;
    slow.on('message:receive', () => {
      got++;
    });
    let sentTo = 0;
    const ctrl = await measure(
      s,
      probe,
      fixed(async () => {
        const n = await burst(ru.address)();
        sentTo += 64;
        await waitFor(() => got >= sentTo, { intervalMs: 1, what: 'the reader' });
        return n;
      }, CONTROL_BYTES),
    );
    raw.pause();
    const before = await metric(s.url, 'p3_messaging_slow_consumers_total');
    const r = await measure(s, probe, {
      burst: burst(ru.address),
      async done() {
        return (await metric(s.url, 'p3_messaging_slow_consumers_total')) > before;
      },
    });
    record(
      'Socket.IO (DM receiver)',
      'dropped (p3_messaging_slow_consumers_total +1; its undelivered DMs stay in its inbox)',
      r,
      ctrl,
      `; the cap counts unsent bytes (engine.io queue + WebSocket buffer) against P3_SEND_BUFFER_BYTES, with ${content.length / 1024} KiB messages`,
    );
    check(r, ctrl);
    raw.destroy();
    for (const c of [slow, flooder, a, b]) c.close();
  }, 90_000);
});
