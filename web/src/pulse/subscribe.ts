import type { Dispatch } from 'react';
import { toConnection } from '../app/connection.js';
import { describeError } from '../app/errors.js';
import { createPulseDashboard, type TokenSource } from '../sdk.js';
import type { PulseAction } from './store.js';
import type { PulseConnection } from './use-pulse.js';

export interface SubscribeOptions {
  url: string;
  token: TokenSource;
  dispatch: Dispatch<PulseAction>;
  setConnection(c: PulseConnection): void;
  setError(message: string | undefined): void;
}

/**
 * The SDK's pulse dashboard client, subscribed to nodes, metrics and tasks, feeding the
 * page's reducer. Returns the unsubscribe.
 */
export function subscribeDashboard({
  url,
  token,
  dispatch,
  setConnection,
  setError,
}: SubscribeOptions): () => void {
  const dash = createPulseDashboard({ url, token, topics: ['nodes', 'metrics', 'tasks'] });
  dash.on('state', ({ to }) => {
    setConnection(toConnection(to));
    if (to === 'open') setError(undefined);
  });
  dash.on('error', (e) => {
    if (e.code !== 'network') setError(describeError(e));
  });
  dash.on('snapshot', (nodes) => {
    const list = [...nodes.values()];
    dispatch({
      type: 'snapshot',
      nodes: list,
      metrics: list.flatMap((n) =>
        n.metrics
          ? [
              {
                nodeId: n.nodeId,
                address: n.address,
                metrics: n.metrics,
                timestamp: n.updatedAt ?? Date.now(),
              },
            ]
          : [],
      ),
    });
  });
  dash.on('node:joined', (n) => dispatch({ type: 'node', node: n, online: true }));
  dash.on('node:left', (n) => dispatch({ type: 'node', node: n, online: false }));
  dash.on('metrics', (m) => dispatch({ type: 'metrics', update: m }));
  dash.on('task', (t) => dispatch({ type: 'task', task: t, at: Date.now() }));
  return () => dash.close();
}
