import { percentiles } from './stats.js';
import type { MiniWs } from './wsclient.js';

export interface Pair {
  a: MiniWs;
  b: MiniWs;
  /** Frame text with `__T__` where the send time goes. */
  frameAtoB: string;
  frameBtoA: string;
}

export interface StepResult {
  rate: number;
  sent: number;
  received: number;
  lost: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  serverCpu: number;
}

/**
 * Calls `sendOne(i)` for i = 0…rate·seconds−1 at a fixed offered rate (open loop: the
 * schedule never waits for answers), in 2 ms ticks; resolves after the last send.
 */
export function sendAtRate(rate: number, seconds: number, sendOne: (i: number) => void): Promise<number> {
  const start = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  return new Promise<number>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      while (sent < due) sendOne(sent++);
      if (sent >= total) resolve(sent);
      else setTimeout(tick, 2);
    };
    tick();
  });
}

/** Waits until `done()` or `ms` have passed. */
export async function settle(done: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Extracts the send time written as "t":<ms> at the end of the frame's data. */
function sendTime(text: string): number {
  const i = text.lastIndexOf('"t":');
  return i < 0 ? Number.NaN : Number.parseFloat(text.slice(i + 4));
}

/**
 * Open-loop load: `rate` frames per second spread over every pair (alternating
 * directions), for `seconds`, each frame carrying its send time; latency is measured
 * at the receiver (same process, same clock). Stragglers get 2 s after the last send.
 */
export async function runOpenLoop(
  pairs: Pair[],
  rate: number,
  seconds: number,
  serverCpu: () => number,
): Promise<StepResult> {
  const samples: number[] = [];
  let received = 0;
  const onText = (t: string) => {
    const ts = sendTime(t);
    if (Number.isNaN(ts)) return;
    received++;
    samples.push(performance.now() - ts);
  };
  for (const p of pairs) {
    p.a.onText = onText;
    p.b.onText = onText;
  }
  const cpu0 = serverCpu();
  const start = performance.now();
  const sent = await sendAtRate(rate, seconds, (i) => {
    const p = pairs[i % pairs.length]!;
    const now = performance.now().toFixed(3);
    if (Math.floor(i / pairs.length) % 2 === 0) p.a.send(p.frameAtoB.replace('__T__', now));
    else p.b.send(p.frameBtoA.replace('__T__', now));
  });
  await settle(() => received >= sent, 2_000);
  const elapsed = (performance.now() - start) / 1000;
  const cpu = (serverCpu() - cpu0) / elapsed;
  const pc = percentiles(samples);
  return { rate, sent, received, lost: sent - received, ...pc, serverCpu: cpu };
}

/**
 * Steps the offered rate up until two steps in a row miss (p99 over `p99LimitMs`, or frames
 * lost); returns the highest rate that passed. One missed step followed by passing ones is a
 * GC pause or a timer landing in that step, not the server's limit.
 */
export async function findCapacity(
  pairs: Pair[],
  rates: number[],
  seconds: number,
  serverCpu: () => number,
  p99LimitMs = 10,
): Promise<{ capacity: number; steps: StepResult[] }> {
  const steps: StepResult[] = [];
  let capacity = 0;
  let missed = 0;
  for (const rate of rates) {
    const r = await runOpenLoop(pairs, rate, seconds, serverCpu);
    steps.push(r);
    if (r.p99 > p99LimitMs || r.lost > 0) {
      if (++missed >= 2) break;
      continue;
    }
    missed = 0;
    capacity = rate;
  }
  return { capacity, steps };
}
