import { fmt } from '../components/format.js';
import { Sparkline } from '../components/Sparkline.js';

const UNITS: Record<string, (v: number) => string> = {
  latencyMs: fmt.ms,
  cpu: (v) => (v <= 1 ? fmt.pct(v * 100) : fmt.pct(v)),
  memory: (v) => (v > 1024 ? fmt.bytes(v) : v <= 1 ? fmt.pct(v * 100) : fmt.num(v)),
};

/** Live charts of every metric one node sends. */
export function NodeMetrics({ nodeId, series }: { nodeId: string; series: Record<string, number[]> }) {
  const names = Object.keys(series).sort();
  return (
    <section className="card stack" aria-label={`Metrics of ${nodeId}`} data-metrics-node={nodeId}>
      <h3>
        Metrics · <span className="address">{nodeId}</span>
      </h3>
      {names.length === 0 ? (
        <p className="muted small">No metrics yet.</p>
      ) : (
        <div className="charts">
          {names.map((name) => (
            <Sparkline
              key={name}
              label={name}
              values={series[name] ?? []}
              format={UNITS[name] ?? fmt.num}
              windowText="the last samples"
            />
          ))}
        </div>
      )}
    </section>
  );
}
