/**
 * Gathers the calls made during one event-loop turn and runs them as one batch in that
 * turn's check phase (`setImmediate`), so a loaded server pays one round trip (one
 * Redis command, one reply to decode, one promise) for many callers instead of one each.
 *
 * A lightly loaded server gets batches of one: the wait is the rest of the current turn
 * (microseconds). A loaded one, whose turns each handle many socket reads, gets larger
 * batches: the cost per call falls as the load rises. At most `maxBatch` calls go in one
 * batch (the next ones start another).
 *
 * `run` answers each item in order: a value, or an Error for that item alone. If `run`
 * itself fails, every call of the batch fails with that error.
 */
export function perTurn<I, O>(
  run: (items: I[]) => Promise<Array<O | Error>>,
  maxBatch: number,
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
    while (queue.length > 0) {
      const calls = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
      if (calls === queue) queue = [];
      runBatch(calls);
    }
  };

  const runBatch = (calls: Call[]) => {
    let answers: Promise<Array<O | Error>>;
    try {
      answers = run(calls.map((c) => c.item));
    } catch (error) {
      for (const c of calls) c.reject(error);
      return;
    }
    answers.then(
      (results) => {
        for (let i = 0; i < calls.length; i++) {
          const r = results[i];
          if (r instanceof Error) calls[i]!.reject(r);
          else if (i >= results.length)
            calls[i]!.reject(new Error('batch answered fewer items than it was given'));
          else calls[i]!.resolve(r as O);
        }
      },
      (error: unknown) => {
        for (const c of calls) c.reject(error);
      },
    );
  };

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
