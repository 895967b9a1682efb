import { clock } from '../components/format.js';
import type { TaskRow } from './store.js';

function resultText(t: TaskRow): string {
  if (t.error) return t.error;
  if (t.result === undefined)
    return t.status === 'done' || t.status === 'failed' ? '(needs the service key)' : '';
  const text = typeof t.result === 'string' ? t.result : JSON.stringify(t.result);
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

/** Tasks as the `tasks` topic reports them: the queue, or the finished ones with results. */
export function TasksTable({ title, tasks, empty }: { title: string; tasks: TaskRow[]; empty: string }) {
  const id = `tasks-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <section className="card stack" aria-labelledby={id}>
      <h2 id={id}>
        {title} ({tasks.length})
      </h2>
      {tasks.length === 0 ? (
        <p className="muted small">{empty}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Task</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col">Node</th>
                <th scope="col">Tries</th>
                <th scope="col">Result</th>
                <th scope="col">At</th>
              </tr>
            </thead>
            <tbody>
              {tasks.map((t) => (
                <tr key={t.taskId} data-task={t.taskId} data-status={t.status}>
                  <td className="address" title={t.taskId}>
                    {t.taskId.slice(0, 8)}
                  </td>
                  <td>{t.kind}</td>
                  <td>{t.status}</td>
                  <td className="address">{t.node ?? '–'}</td>
                  <td>{t.attempts}</td>
                  <td className="small">{resultText(t)}</td>
                  <td className="small">{clock(t.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
