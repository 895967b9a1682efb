import { ErrorCode } from '../../protocol/errors.js';
import { isWebRTCDevice, WEBRTC_DEVICES, type WebRTCDevice, WebRTCPaths } from '../../protocol/webrtc.js';
import { badRequest, HttpError, sendJson } from '../http/errors.js';
import { KeyedBuckets } from '../limits/token-bucket.js';
import type { Surface, SurfaceContext } from '../surface.js';
import { buildWebRTCConfig } from './ice-config.js';

/**
 * §2 `GET /v1/webrtc/config?device=mobile|desktop`: the RTCConfiguration for the caller,
 * with TURN credentials minted for its address. A missing `device` means desktop.
 */
export function createWebRTCSurface(ctx: SurfaceContext): Surface {
  const { config, auth, now } = ctx;
  const requests = ctx.metrics.counter('p3_webrtc_config_requests_total', 'WebRTC config requests', [
    'device',
    'turn',
  ]);
  // credentials are cheap to mint, but a client in a loop should not be able to mint forever
  const perAddress = new KeyedBuckets(5, 30, 10_000, now);

  ctx.router.get(WebRTCPaths.config, async ({ req, res, url }) => {
    const identity = await auth.requireUser(req, url);
    const raw = url.searchParams.get('device') ?? 'desktop';
    if (!isWebRTCDevice(raw)) throw badRequest(`device must be one of ${WEBRTC_DEVICES.join(', ')}`);
    const device: WebRTCDevice = raw;
    if (!perAddress.take(identity.address)) {
      throw new HttpError(429, ErrorCode.rateLimited, 'Rate limit exceeded', { 'Retry-After': '1' });
    }
    const { body, turn } = buildWebRTCConfig(config, identity.address, device, now);
    requests.inc({ device, turn });
    sendJson(res, 200, body);
  });

  return {
    name: 'webrtc',
    async close() {},
  };
}
