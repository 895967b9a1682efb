import type { IncomingMessage } from 'node:http';
import { AuthPaths, type NonceResponse, type TokenResponse } from '../../protocol/auth.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { Engine } from '../engine/types.js';
import { readJson } from '../http/body.js';
import { badRequest, HttpError, sendJson, unauthorized } from '../http/errors.js';
import type { RouteContext, Router } from '../http/router.js';
import { KeyedBuckets } from '../limits/token-bucket.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createServiceKeyCheck } from './service-key.js';
import { createSiweVerifier, SiweError, type SiweVerifier } from './siwe.js';
import { createTokenService, type Identity, type TokenService } from './tokens.js';

export { SiweError } from './siwe.js';
export type { Identity, TokenService } from './tokens.js';

/** Authentication as the surfaces see it. */
export interface AuthContext {
  tokens: TokenService;
  siwe: SiweVerifier;
  serviceKeyEnabled: boolean;
  /** The bearer token of a request: Authorization header, else `?token=`. */
  tokenOf(req: IncomingMessage, url: URL): string | undefined;
  /** The caller's identity, or 401. */
  requireUser(req: IncomingMessage, url: URL): Promise<Identity>;
  /** Passes for the service key; 403 service_disabled when none is configured; 401 otherwise. */
  requireService(req: IncomingMessage): void;
  /** SIWE message + signature → token (for the `auth` frame of WebSocket surfaces). */
  signIn(message: unknown, signature: unknown): Promise<TokenResponse>;
}

export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

export function createAuth(options: {
  engine: Engine;
  secret: string;
  tokenTtlSec: number;
  siweDomain: string;
  serviceKey: string | undefined;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
}): AuthContext {
  const tokens = createTokenService({
    secret: options.secret,
    ttlSec: options.tokenTtlSec,
    now: options.now,
  });
  const siwe = createSiweVerifier({ engine: options.engine, domain: options.siweDomain, now: options.now });
  const service = createServiceKeyCheck(options.serviceKey);
  const signIns = options.metrics.counter('p3_auth_sign_ins_total', 'SIWE sign-in attempts by result', [
    'result',
  ]);

  const tokenOf = (req: IncomingMessage, url: URL) =>
    bearerOf(req) ?? url.searchParams.get('token') ?? undefined;

  return {
    tokens,
    siwe,
    serviceKeyEnabled: service.enabled,
    tokenOf,
    async requireUser(req, url) {
      const token = tokenOf(req, url);
      if (!token) throw unauthorized();
      const identity = await tokens.verify(token);
      if (!identity) throw unauthorized('Token is invalid or expired');
      return identity;
    },
    requireService(req) {
      if (!service.enabled) {
        throw new HttpError(
          403,
          ErrorCode.serviceDisabled,
          'Service endpoints are disabled (no P3_SERVICE_KEY)',
        );
      }
      if (!service.check(bearerOf(req))) throw unauthorized('A valid service key is required');
    },
    async signIn(message, signature) {
      try {
        const address = await siwe.verify(message, signature);
        const { token, expiresAt } = await tokens.issue(address);
        signIns.inc({ result: 'ok' });
        options.logger.info({ address }, 'signed in');
        return { token, address, expiresAt };
      } catch (error) {
        if (error instanceof SiweError) signIns.inc({ result: error.reason });
        throw error;
      }
    },
  };
}

/** The REST calls of PROTOCOL.md §1. */
export function mountAuthRoutes(
  router: Router,
  auth: AuthContext,
  options: { maxBodyBytes: number; remoteKey: (ctx: RouteContext) => string },
): void {
  // nonces live in the engine for 5 minutes: limit how fast one address can mint them
  const perIp = new KeyedBuckets(20, 60);
  const limit = (ctx: RouteContext) => {
    if (!perIp.take(options.remoteKey(ctx))) {
      throw new HttpError(429, ErrorCode.rateLimited, 'Rate limit exceeded', { 'Retry-After': '1' });
    }
  };
  router.get(AuthPaths.nonce, async (ctx) => {
    limit(ctx);
    const body: NonceResponse = await auth.siwe.issueNonce();
    sendJson(ctx.res, 200, body);
  });
  router.post(AuthPaths.verify, async (ctx) => {
    limit(ctx);
    const body = await readJson(ctx.req, Math.min(options.maxBodyBytes, 64 * 1024));
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('Body must be { message, signature }');
    }
    const { message, signature } = body as Record<string, unknown>;
    if (typeof message !== 'string' || typeof signature !== 'string') {
      throw badRequest('Body must be { message: string, signature: string }');
    }
    try {
      sendJson(ctx.res, 200, await auth.signIn(message, signature));
    } catch (error) {
      if (error instanceof SiweError) throw new HttpError(401, ErrorCode.unauthorized, error.message);
      throw error;
    }
  });
}
