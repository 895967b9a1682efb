import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback that can "freeze": it stops forwarding in both directions
 * without closing anything, as a dead NAT or a pulled cable leaves a connection half-open.
 */
export interface FreezableProxy {
  port: number;
  freeze(): void;
  /** Resolves when the upstream (server) side of every proxied connection has closed. */
  upstreamClosed(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<FreezableProxy> {
  let frozen = false;
  const pairs: { client: Socket; upstream: Socket; closed: Promise<void> }[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const closed = new Promise<void>((resolve) => upstream.on('close', () => resolve()));
    client.on('data', (d) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!frozen) client.write(d);
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
    // a frozen link delivers nothing, not even a FIN
    client.on('close', () => {
      if (!frozen) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!frozen) client.destroy();
    });
    pairs.push({ client, upstream, closed });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    freeze() {
      frozen = true;
    },
    async upstreamClosed() {
      await Promise.all(pairs.map((p) => p.closed));
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
