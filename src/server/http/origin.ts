import type { IncomingMessage } from 'node:http';

/**
 * The browser-origin policy of PROTOCOL.md §1: a request without Origin (a non-browser
 * client) is served; an Origin equal to the server's own origin or listed in
 * P3_ALLOWED_ORIGINS is served; any other (including "null" and look-alikes) is not.
 * Comparison is on the serialised origin, exact: no suffix or prefix matching.
 */
export function createOriginPolicy(allowed: string[]) {
  const allow = new Set(allowed.map((o) => o.toLowerCase()));
  return function isAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const o = origin.toLowerCase();
    if (allow.has(o)) return true;
    const host = req.headers.host;
    if (!host) return false;
    let parsed: URL;
    try {
      parsed = new URL(o);
    } catch {
      return false;
    }
    if (parsed.origin === 'null' || parsed.origin !== o) return false;
    // the own origin: the scheme this connection arrived on, and the Host it named
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
    const forwardedProto = String(req.headers['x-forwarded-proto'] ?? '')
      .split(',')[0]
      ?.trim();
    const scheme = forwardedProto === 'https' || secure ? 'https:' : 'http:';
    const own = new URL(`${scheme}//${host}`);
    return parsed.origin === own.origin.toLowerCase();
  };
}

export type OriginPolicy = ReturnType<typeof createOriginPolicy>;
