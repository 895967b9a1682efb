import { useEffect, useState } from 'react';

export interface RouteInfo {
  /** How media flows: direct, through a STUN-found address, or relayed by TURN. */
  route: string;
  /** Media bytes received from this peer so far (all inbound RTP streams). */
  bytesReceived: number;
}

const WORDS: Record<string, string> = {
  host: 'direct (local network)',
  srflx: 'direct (through NAT)',
  prflx: 'direct (through NAT)',
  relay: 'relayed by TURN',
};

/** Reads the selected candidate pair and received bytes from getStats every 2 s. */
export function useRouteInfo(pc: RTCPeerConnection): RouteInfo {
  const [info, setInfo] = useState<RouteInfo>({ route: 'connecting…', bytesReceived: 0 });
  useEffect(() => {
    let stopped = false;
    const read = async () => {
      try {
        const report = await pc.getStats();
        let pairId: string | undefined;
        let bytes = 0;
        report.forEach((s) => {
          if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
          if (s.type === 'inbound-rtp') bytes += s.bytesReceived ?? 0;
        });
        const pair = pairId ? report.get(pairId) : undefined;
        const local = pair ? report.get(pair.localCandidateId) : undefined;
        const remote = pair ? report.get(pair.remoteCandidateId) : undefined;
        const type =
          local?.candidateType === 'relay' || remote?.candidateType === 'relay'
            ? 'relay'
            : local?.candidateType;
        if (!stopped) setInfo({ route: (type && WORDS[type]) ?? 'connecting…', bytesReceived: bytes });
      } catch {
        // the connection closed: the panel goes away with the peer
      }
    };
    void read();
    const timer = setInterval(read, 2000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [pc]);
  return info;
}
