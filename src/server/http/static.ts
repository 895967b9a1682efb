import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * Serves the built web app (a single-page app): files under `root`, and index.html for
 * any other GET path without a file extension. Paths are resolved inside `root` only.
 * Returns false when it did not handle the request.
 */
export function createStaticHandler(root: string | undefined) {
  const base = root ? resolve(root) : undefined;
  // checked again (at most every 2 s) while missing: the app may be built after start-up
  let available = false;
  let checkedAt = 0;
  const isAvailable = () => {
    if (available || base === undefined) return available;
    const t = Date.now();
    if (t - checkedAt > 2_000) {
      checkedAt = t;
      available = existsSync(join(base, 'index.html'));
    }
    return available;
  };
  return function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    if (!base || (req.method !== 'GET' && req.method !== 'HEAD') || !isAvailable()) return false;
    let rel: string;
    try {
      rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '');
    } catch {
      return false;
    }
    let file = resolve(base, rel);
    if (file !== base && !file.startsWith(base + sep)) return false;
    let isFile = false;
    try {
      isFile = statSync(file).isFile();
    } catch {}
    if (!isFile) {
      // the single-page fallback is for browsers navigating, never for API paths
      const wantsHtml = String(req.headers.accept ?? '').includes('text/html');
      if (extname(rel) !== '' || !wantsHtml || /^(v1|pulse|signaling|socket\.io)(\/|$)/.test(rel))
        return false;
      file = join(base, 'index.html');
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const immutable = rel.startsWith('assets/');
    res.writeHead(200, {
      'Content-Type': type,
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      ...(type.startsWith('text/html')
        ? {
            'Content-Security-Policy':
              "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'",
            'X-Frame-Options': 'DENY',
          }
        : {}),
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
    return true;
  };
}
