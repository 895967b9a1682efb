import { useEffect, useRef } from 'react';
import { Address } from '../components/Address.js';

export interface MediaTileProps {
  stream: MediaStream | undefined;
  /** The local preview is muted (no echo) and mirrored. */
  local?: boolean;
  video: boolean;
  address: string;
  caption: string;
}

/** One participant: their video, or for an audio call an avatar with their audio playing. */
export function MediaTile({ stream, local = false, video, address, caption }: MediaTileProps) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (el.srcObject !== (stream ?? null)) el.srcObject = stream ?? null;
    // autoplay can be refused until the user interacts; the call keeps running either way
    if (stream) el.play().catch(() => {});
  }, [stream]);
  return (
    <figure className="tile" aria-label={caption}>
      <video
        ref={ref}
        autoPlay
        playsInline
        muted={local}
        hidden={!video}
        style={local ? { transform: 'scaleX(-1)' } : undefined}
      />
      {!video && (
        <div className="audio-only" aria-hidden="true">
          <span className="avatar">{address.slice(2, 4).toUpperCase()}</span>
        </div>
      )}
      <figcaption className="tile-label">
        {caption} · <Address address={address} />
      </figcaption>
    </figure>
  );
}
