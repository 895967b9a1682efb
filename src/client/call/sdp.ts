import type { WebRTCDevice } from '../../protocol/webrtc.js';

/**
 * The sample rate of the server's audio codec preference; anything unparsable is 48000
 * (Opus's native rate).
 *
 * @example
 * opusRateOf(config.codecPreferences.audio); // 24000 for 'opus/24000/2'
 */
export function opusRateOf(codec: string): number {
  const m = /^opus\/(\d+)(?:\/\d+)?$/i.exec(codec.trim());
  const rate = m ? Number(m[1]) : 48_000;
  return rate > 0 && rate <= 48_000 ? rate : 48_000;
}

/**
 * Applies the server's audio codec preference to an SDP we are about to *send*: Opus
 * first in every audio m-line, and for a rate below 48 kHz (the seed's `opus/24000/2` on
 * mobile) `maxplaybackrate` / `sprop-maxcapturerate` on its fmtp, which asks the peer's
 * encoder for wideband instead of fullband and roughly halves the audio bitrate.
 * Only the copy on the wire is changed: our own local description stays as the browser
 * made it, which keeps perfect negotiation's implicit rollback safe.
 *
 * @example
 * signaling.signal('offer', roomId, { type: 'offer', sdp: preferOpus(pc.localDescription.sdp, 24000) });
 */
export function preferOpus(sdp: string, rate = 48_000): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  const opusPts = new Set<string>();
  for (const line of lines) {
    const m = /^a=rtpmap:(\d+) opus\/48000/i.exec(line);
    if (m?.[1]) opusPts.add(m[1]);
  }
  if (opusPts.size === 0) return sdp;
  return lines
    .map((line) => {
      const media = /^(m=audio \d+ [A-Z/]+) (.+)$/.exec(line);
      if (media) {
        const pts = media[2]!.split(' ');
        const first = pts.filter((p) => opusPts.has(p));
        return `${media[1]} ${[...first, ...pts.filter((p) => !opusPts.has(p))].join(' ')}`;
      }
      const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
      if (fmtp && opusPts.has(fmtp[1]!) && rate < 48_000) {
        const params = fmtp[2]!
          .split(';')
          .map((p) => p.trim())
          .filter((p) => p && !/^(maxplaybackrate|sprop-maxcapturerate)=/.test(p));
        params.push(`maxplaybackrate=${rate}`, `sprop-maxcapturerate=${rate}`);
        return `a=fmtp:${fmtp[1]} ${params.join(';')}`;
      }
      return line;
    })
    .join(eol);
}

/**
 * `mobile` on phones and tablets, from the UA client hint or the user agent string.
 *
 * @example
 * fetch(`/v1/webrtc/config?device=${detectDevice()}`);
 */
export function detectDevice(
  nav: { userAgent?: string; userAgentData?: { mobile?: boolean } } | undefined = (
    globalThis as { navigator?: { userAgent?: string; userAgentData?: { mobile?: boolean } } }
  ).navigator,
): WebRTCDevice {
  if (nav?.userAgentData?.mobile !== undefined) return nav.userAgentData.mobile ? 'mobile' : 'desktop';
  return /Mobi|Android|iPhone|iPad|iPod/i.test(nav?.userAgent ?? '') ? 'mobile' : 'desktop';
}
