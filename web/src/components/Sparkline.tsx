/**
 * A small line chart in SVG (no chart library): the series over its window, scaled from 0
 * to its maximum, with the latest value written out next to the label.
 */
export interface SparklineProps {
  label: string;
  values: readonly number[];
  format: (value: number) => string;
  /** A fixed top of the scale (e.g. 100 for a percentage); default: the series' maximum. */
  max?: number;
  /** Window the series covers, for the accessible description. */
  windowText?: string;
}

const W = 200;
const H = 48;

export function sparkPoints(values: readonly number[], top: number): string {
  if (values.length === 0) return '';
  const step = values.length > 1 ? W / (values.length - 1) : 0;
  return values
    .map((v, i) => {
      const x = values.length > 1 ? i * step : W;
      const y = H - 2 - (Math.max(0, v) / top) * (H - 4);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

export function Sparkline({ label, values, format, max, windowText }: SparklineProps) {
  const last = values.at(-1);
  const top = Math.max(max ?? 0, ...values, 1e-9);
  const peak = values.length > 0 ? Math.max(...values) : undefined;
  const description = `${label}: ${last === undefined ? 'no data yet' : format(last)}${
    peak === undefined ? '' : `, peak ${format(peak)}`
  }${windowText ? ` over ${windowText}` : ''}`;
  return (
    <figure className="spark">
      <figcaption>
        <span>{label}</span>
        <strong>{last === undefined ? '–' : format(last)}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={description}>
        <line x1="0" x2={W} y1={H - 1} y2={H - 1} className="spark-axis" />
        {values.length > 1 && <polyline points={sparkPoints(values, top)} className="spark-line" />}
        {last !== undefined && <LastPoint values={values} top={top} />}
      </svg>
    </figure>
  );
}

/** The newest sample as a dot at the right edge (also visible when it is the only one). */
function LastPoint({ values, top }: { values: readonly number[]; top: number }) {
  const [x = '0', y = '0'] = (sparkPoints(values, top).split(' ').at(-1) ?? '').split(',');
  return <circle cx={x} cy={y} r="2.5" className="spark-dot" />;
}
