import { ErrorNote } from '../components/ErrorNote.js';
import { NodeMetrics } from './NodeMetrics.js';
import { NodesTable } from './NodesTable.js';
import { ServiceKey } from './ServiceKey.js';
import { SubmitTask } from './SubmitTask.js';
import { TasksTable } from './TasksTable.js';
import { usePulseDashboard } from './use-pulse.js';

const CONNECTION_WORDS = {
  connecting: 'Connecting to the pulse stream…',
  open: 'Live',
  reconnecting: 'Connection lost: reconnecting…',
  closed: 'Disconnected',
} as const;

export function PulsePage() {
  const d = usePulseDashboard();
  const nodes = Object.values(d.state.nodes).sort(
    (a, b) => Number(b.online) - Number(a.online) || a.nodeId.localeCompare(b.nodeId),
  );
  const queue = d.state.tasks.filter((t) => t.status === 'queued' || t.status === 'assigned');
  const finished = d.state.tasks.filter((t) => t.status === 'done' || t.status === 'failed');
  return (
    <div className="stack">
      <div className="row">
        <h1>Pulse</h1>
        <span className="muted small" role="status" data-testid="pulse-state" data-state={d.connection}>
          {CONNECTION_WORDS[d.connection]}
        </span>
      </div>
      <ErrorNote message={d.error} onDismiss={d.clearError} />
      <ServiceKey value={d.serviceKey} onChange={d.setServiceKey} />
      <NodesTable nodes={nodes} />
      {nodes.map((n) => (
        <NodeMetrics key={n.nodeId} nodeId={n.nodeId} series={d.state.series[n.nodeId] ?? {}} />
      ))}
      <div className="grid-2">
        <TasksTable title="Task queue" tasks={queue} empty="No task is waiting or running." />
        <TasksTable
          title="Recent results"
          tasks={finished}
          empty="No task has finished since this page opened."
        />
      </div>
      {d.serviceKey && <SubmitTask onSubmit={d.submitTask} />}
    </div>
  );
}
