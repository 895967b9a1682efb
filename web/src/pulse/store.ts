/**
 * The dashboard's state: what the pulse stream's `nodes`, `metrics` and `tasks` topics
 * told us, plus task details read with a service key when the user gave one.
 */
export interface NodeView {
  nodeId: string;
  address: string;
  capabilities: string[];
  region: string | null;
  version: string | null;
  online: boolean;
  joinedAt: number | null;
  lastMetricsAt: number | null;
}

export interface TaskRow {
  taskId: string;
  kind: string;
  status: 'queued' | 'assigned' | 'done' | 'failed';
  node: string | null;
  attempts: number;
  updatedAt: number;
  /** Filled in from GET /v1/pulse/tasks/:id (service key). */
  result?: unknown;
  error?: string;
}

export interface PulseState {
  nodes: Record<string, NodeView>;
  /** nodeId → metric name → the last samples. */
  series: Record<string, Record<string, number[]>>;
  tasks: TaskRow[];
}

export type PulseAction =
  | { type: 'snapshot'; nodes: NodeInput[]; metrics: MetricsInput[] }
  | { type: 'node'; node: NodeInput; online: boolean }
  | { type: 'metrics'; update: MetricsInput }
  | { type: 'task'; task: Omit<TaskRow, 'updatedAt'>; at: number }
  | { type: 'task-detail'; taskId: string; result?: unknown; error?: string; status?: TaskRow['status'] };

export interface NodeInput {
  nodeId: string;
  address: string;
  capabilities: string[];
  region?: string | null;
  version?: string | null;
  joinedAt?: number;
}
export interface MetricsInput {
  nodeId: string;
  address: string;
  metrics: Record<string, number>;
  timestamp: number;
}

/** Samples per metric: at one update a second, the last two and a half minutes. */
export const SERIES_MAX = 150;
/** Tasks listed; older ones drop off. */
export const TASKS_MAX = 100;
/** Metric series per node (a node may send up to 64 names). */
const METRICS_PER_NODE = 16;

export const initialPulse: PulseState = { nodes: {}, series: {}, tasks: [] };

function nodeView(n: NodeInput, online: boolean, prev?: NodeView): NodeView {
  return {
    nodeId: n.nodeId,
    address: n.address,
    capabilities: n.capabilities,
    region: n.region ?? null,
    version: n.version ?? null,
    online,
    joinedAt: n.joinedAt ?? prev?.joinedAt ?? null,
    lastMetricsAt: prev?.lastMetricsAt ?? null,
  };
}

function addMetrics(state: PulseState, u: MetricsInput): PulseState {
  const current = state.series[u.nodeId] ?? {};
  const next: Record<string, number[]> = { ...current };
  for (const [name, value] of Object.entries(u.metrics)) {
    if (!(name in next) && Object.keys(next).length >= METRICS_PER_NODE) continue;
    const s = next[name] ?? [];
    next[name] = [...s.slice(-(SERIES_MAX - 1)), value];
  }
  const node = state.nodes[u.nodeId];
  return {
    ...state,
    series: { ...state.series, [u.nodeId]: next },
    nodes: node ? { ...state.nodes, [u.nodeId]: { ...node, lastMetricsAt: u.timestamp } } : state.nodes,
  };
}

export function pulseReducer(state: PulseState, action: PulseAction): PulseState {
  switch (action.type) {
    case 'snapshot': {
      const nodes: Record<string, NodeView> = {};
      for (const n of action.nodes) nodes[n.nodeId] = nodeView(n, true, state.nodes[n.nodeId]);
      // nodes we saw before that are gone now stay listed as offline
      for (const [id, n] of Object.entries(state.nodes)) if (!nodes[id]) nodes[id] = { ...n, online: false };
      let next: PulseState = { ...state, nodes };
      for (const m of action.metrics) next = addMetrics(next, m);
      return next;
    }
    case 'node':
      return {
        ...state,
        nodes: {
          ...state.nodes,
          [action.node.nodeId]: nodeView(action.node, action.online, state.nodes[action.node.nodeId]),
        },
      };
    case 'metrics':
      return addMetrics(state, action.update);
    case 'task': {
      const prev = state.tasks.find((t) => t.taskId === action.task.taskId);
      const row: TaskRow = { ...prev, ...action.task, updatedAt: action.at };
      const rest = state.tasks.filter((t) => t.taskId !== action.task.taskId);
      return { ...state, tasks: [row, ...rest].slice(0, TASKS_MAX) };
    }
    case 'task-detail':
      return {
        ...state,
        tasks: state.tasks.map((t) =>
          t.taskId === action.taskId
            ? {
                ...t,
                ...(action.status ? { status: action.status } : {}),
                ...('result' in action ? { result: action.result } : {}),
                ...(action.error ? { error: action.error } : {}),
              }
            : t,
        ),
      };
  }
}
