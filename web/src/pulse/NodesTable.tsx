import { Address } from '../components/Address.js';
import { ago } from '../components/format.js';
import type { NodeView } from './store.js';

export function NodesTable({ nodes }: { nodes: NodeView[] }) {
  return (
    <section className="card stack" aria-labelledby="nodes-title">
      <h2 id="nodes-title">Nodes ({nodes.filter((n) => n.online).length} online)</h2>
      {nodes.length === 0 ? (
        <p className="muted">No node has registered yet.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col">Region</th>
                <th scope="col">Capabilities</th>
                <th scope="col">Owner</th>
                <th scope="col">Last metrics</th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((n) => (
                <tr key={n.nodeId} data-node={n.nodeId}>
                  <th scope="row" className="address">
                    {n.nodeId}
                    {n.version && <span className="muted small"> v{n.version}</span>}
                  </th>
                  <td>
                    <span className={`dot ${n.online ? 'dot-online' : ''}`} aria-hidden="true" />{' '}
                    {n.online ? 'online' : 'offline'}
                  </td>
                  <td>{n.region ?? '–'}</td>
                  <td>
                    <span className="chips">
                      {n.capabilities.length === 0 && <span className="muted">none</span>}
                      {n.capabilities.map((c) => (
                        <span key={c} className="chip">
                          {c}
                        </span>
                      ))}
                    </span>
                  </td>
                  <td>
                    <Address address={n.address} />
                  </td>
                  <td>{n.lastMetricsAt ? ago(n.lastMetricsAt) : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
