/**
 * Work left for the end of the current event-loop turn (its check phase), run in one
 * `setImmediate`. A task added while the tasks run (a batch flush that writes to a
 * corked socket and so asks for the uncork) runs in the same pass: nothing waits for the
 * next turn's poll phase.
 */
let tasks: (() => void)[] = [];
let scheduled = false;

function runTasks() {
  // tasks added while running are appended and run in this same pass
  for (let i = 0; i < tasks.length; i++) {
    try {
      tasks[i]!();
    } catch (error) {
      // a failing task never stops the others; the error still surfaces
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  tasks = [];
  scheduled = false;
}

export function atEndOfTurn(task: () => void): void {
  tasks.push(task);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runTasks);
  }
}

/**
 * Gathers the calls made during one event-loop turn and runs them as one batch at the end
 * of that turn (see atEndOfTurn), so a loaded server pays one round trip (one Redis
 * command, one reply to decode, one promise) for many callers instead of one each.
 *
 * A lightly loaded server gets batches of one: the wait is the rest of the current turn
 * (microseconds). A loaded one, whose turns each handle many socket reads, gets larger
 * batches: the cost per call falls as the load rises. A batch holds at most `maxBatch`
 * calls and at most `maxWeight` of their summed `weigh` (bytes, ids…; one call alone may
 * exceed it); the next ones start another batch.
 *
 * `run` answers each item in order: a value, or an Error for that item alone. If `run`
 * fails (or answers something that is not such an array), every call of the batch fails.
 */
export function perTurn<I, O>(
  run: (items: I[]) => Promise<Array<O | Error>>,
  maxBatch: number,
  limit?: { weigh: (item: I) => number; maxWeight: number },
): (item: I) => Promise<O> {
  interface Call {
    item: I;
    resolve: (value: O) => void;
    reject: (error: unknown) => void;
  }
  let queue: Call[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const all = queue;
    queue = [];
    let start = 0;
    while (start < all.length) {
      let end = start;
      let weight = 0;
      while (end < all.length && end - start < maxBatch) {
        const w = limit ? limit.weigh(all[end]!.item) : 0;
        if (end > start && limit && weight + w > limit.maxWeight) break;
        weight += w;
        end++;
      }
      runBatch(all.slice(start, end));
      start = end;
    }
  };

  const runBatch = (calls: Call[]) => {
    const failAll = (error: unknown) => {
      // settling an already settled promise is a no-op: only the unanswered ones fail
      for (const c of calls) c.reject(error);
    };
    let answers: Promise<Array<O | Error>>;
    try {
      // run now, inside this turn's end: its writes go out with this turn's (see coalesceWrites)
      answers = Promise.resolve(run(calls.map((c) => c.item)));
    } catch (error) {
      failAll(error);
      return;
    }
    answers
      .then((results) => {
        if (!Array.isArray(results)) throw new Error('batch answered no list');
        for (let i = 0; i < calls.length; i++) {
          const r = results[i];
          if (r instanceof Error) calls[i]!.reject(r);
          else if (i >= results.length)
            calls[i]!.reject(new Error('batch answered fewer items than it was given'));
          else calls[i]!.resolve(r as O);
        }
      })
      .catch(failAll);
  };

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        atEndOfTurn(flush);
      }
    });
}
