import { Address } from '../components/Address.js';
import { fmt } from '../components/format.js';
import { Sparkline } from '../components/Sparkline.js';
import { HISTORY_WINDOW_TEXT } from './history.js';
import { useRouteInfo } from './route-info.js';
import type { PeerView } from './use-call.js';

const LEVEL_WORDS = {
  excellent: 'round trip under 100 ms, under 1 % loss',
  good: 'round trip under 300 ms, under 5 % loss',
  poor: 'slow or lossy: the send bitrate is lowered',
  critical: 'very slow or lossy: expect dropouts',
} as const;

/** Live call quality with one remote peer: the level and charts of the last minutes. */
export function QualityPanel({ peer }: { peer: PeerView }) {
  const route = useRouteInfo(peer.connection);
  const h = peer.history;
  const last = h.at(-1);
  return (
    <section
      className="card stack"
      aria-label={`Call quality with ${peer.address}`}
      data-peer={peer.peerId}
      data-samples={h.length}
    >
      <div className="row">
        <h3>
          Quality with <Address address={peer.address} />
        </h3>
      </div>
      <p className="row">
        <span className={`level level-${peer.level}`} data-testid="quality-level" data-level={peer.level}>
          {peer.level}
        </span>
        <span className="muted small">{LEVEL_WORDS[peer.level]}</span>
      </p>
      <dl className="facts small">
        <dt className="muted">Connection</dt>
        <dd data-testid="connection-state">{peer.connectionState}</dd>
        <dt className="muted">Route</dt>
        <dd data-testid="route">{route.route}</dd>
        <dt className="muted">Received</dt>
        <dd data-testid="bytes-received">{fmt.bytes(route.bytesReceived)}</dd>
        {last?.codec && (
          <>
            <dt className="muted">Codec</dt>
            <dd>{last.codec}</dd>
          </>
        )}
      </dl>
      <div className="charts">
        <Sparkline
          label="Round trip"
          values={h.map((s) => s.rtt)}
          format={fmt.ms}
          windowText={HISTORY_WINDOW_TEXT}
        />
        <Sparkline
          label="Jitter"
          values={h.map((s) => s.jitter)}
          format={fmt.ms}
          windowText={HISTORY_WINDOW_TEXT}
        />
        <Sparkline
          label="Packet loss"
          values={h.map((s) => s.packetLoss)}
          format={fmt.pct}
          max={5}
          windowText={HISTORY_WINDOW_TEXT}
        />
        <Sparkline
          label="Bitrate"
          values={h.map((s) => s.bitrate)}
          format={fmt.bits}
          windowText={HISTORY_WINDOW_TEXT}
        />
      </div>
    </section>
  );
}
