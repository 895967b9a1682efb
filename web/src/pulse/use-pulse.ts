import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import type { Connection } from '../app/connection.js';
import { describeError } from '../app/errors.js';
import { serverUrl, useUser } from '../identity/identity.js';
import { createTaskClient } from '../sdk.js';
import { initialPulse, type PulseState, pulseReducer } from './store.js';
import { subscribeDashboard } from './subscribe.js';

export type PulseConnection = Connection;

export interface PulseDashboard {
  state: PulseState;
  connection: PulseConnection;
  error: string | undefined;
  clearError(): void;
  serviceKey: string | undefined;
  setServiceKey(key: string | undefined): void;
  submitTask(kind: string, payload: unknown): Promise<string>;
}

/** The service key outlives a visit to another page, never a reload: it is never stored. */
let keyInMemory: string | undefined;

/**
 * The dashboard's data: the pulse stream subscribed to `nodes`, `metrics` and `tasks`,
 * and, with a service key, each finished task's result.
 */
export function usePulseDashboard(): PulseDashboard {
  const { session } = useUser();
  const [state, dispatch] = useReducer(pulseReducer, initialPulse);
  const [connection, setConnection] = useState<PulseConnection>('connecting');
  const [error, setError] = useState<string>();
  const [serviceKey, setServiceKey] = useState<string | undefined>(keyInMemory);
  const fetched = useRef(new Set<string>());

  useEffect(() => {
    setConnection('connecting');
    // wired to the SDK's pulse client in subscribe.ts
    return subscribeDashboard({ url: serverUrl(), token: session, dispatch, setConnection, setError });
  }, [session]);

  // with a key: read the result of every finished task once
  useEffect(() => {
    if (!serviceKey) return;
    const tasks = createTaskClient({ url: serverUrl(), serviceKey });
    for (const t of state.tasks) {
      if ((t.status !== 'done' && t.status !== 'failed') || fetched.current.has(t.taskId)) continue;
      fetched.current.add(t.taskId);
      tasks.get(t.taskId).then(
        (d) =>
          dispatch({
            type: 'task-detail',
            taskId: t.taskId,
            status: d.status,
            ...(d.result !== undefined ? { result: d.result } : {}),
            ...(d.error ? { error: d.error } : {}),
          }),
        (e: unknown) => {
          fetched.current.delete(t.taskId);
          setError(describeError(e));
        },
      );
    }
  }, [serviceKey, state.tasks]);

  const changeKey = useCallback((key: string | undefined) => {
    fetched.current.clear();
    keyInMemory = key;
    setServiceKey(key);
  }, []);

  const submitTask = useCallback(
    async (kind: string, payload: unknown) => {
      if (!serviceKey) throw new Error('Enter the service key first.');
      try {
        const { taskId } = await createTaskClient({ url: serverUrl(), serviceKey }).submit({
          kind,
          ...(payload === undefined ? {} : { payload }),
        });
        return taskId;
      } catch (e) {
        throw new Error(describeError(e));
      }
    },
    [serviceKey],
  );

  return {
    state,
    connection,
    error,
    clearError: () => setError(undefined),
    serviceKey,
    setServiceKey: changeKey,
    submitTask,
  };
}
