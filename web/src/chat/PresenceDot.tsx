import { ago } from '../components/format.js';
import type { Presence } from './store.js';

export function presenceText(p: { status: Presence; lastSeen: number | null } | undefined): string {
  if (!p) return 'presence unknown';
  if (p.status !== 'offline') return p.status;
  return p.lastSeen ? `offline, last seen ${ago(p.lastSeen)}` : 'offline, never seen';
}

/** A coloured dot with the status in words beside it for screen readers. */
export function PresenceDot({
  presence,
}: {
  presence: { status: Presence; lastSeen: number | null } | undefined;
}) {
  const status = presence?.status ?? 'offline';
  return (
    <span
      className={`dot dot-${status}`}
      role="img"
      aria-label={presenceText(presence)}
      title={presenceText(presence)}
      data-presence={status}
    />
  );
}
