import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A minimal WebSocket client for load generation: text frames only, masked with an
 * all-zero key (valid per RFC 6455 and free to apply), no extensions, no fragmentation
 * on send. The `ws` client costs about as much CPU as the server it measures; this one
 * costs a fraction, so the server stays the bottleneck.
 */
export class MiniWs {
  readonly socket: Socket;
  #onText: ((text: string) => void) | undefined;
  /** Frames that arrived before a handler was set (e.g. with the 101 response). */
  #early: string[] = [];
  onClose: () => void = () => {};
  #buf: Buffer = Buffer.alloc(0);

  private constructor(socket: Socket) {
    this.socket = socket;
  }

  get onText(): (text: string) => void {
    return this.#onText ?? ((t: string) => this.#early.push(t));
  }
  set onText(handler: (text: string) => void) {
    this.#onText = handler;
    const early = this.#early;
    this.#early = [];
    for (const t of early) handler(t);
  }

  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<MiniWs> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      const key = randomBytes(16).toString('base64');
      let head = Buffer.alloc(0);
      const client = new MiniWs(socket);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        socket.off('data', onData);
        if (!status.includes(' 101 ')) {
          socket.destroy();
          reject(new Error(`upgrade refused: ${status}`));
          return;
        }
        socket.on('data', (d: Buffer) => client.#onData(d));
        const rest = head.subarray(end + 4);
        if (rest.length) client.#onData(rest);
        resolve(client);
      };
      socket.on('data', onData);
      socket.on('error', reject);
      socket.on('close', () => client.onClose());
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
  }

  /** Sends one text frame (FIN, opcode 1, mask bit with a zero key: payload unchanged). */
  send(text: string): void {
    const payload = Buffer.from(text);
    const n = payload.length;
    let header: Buffer;
    if (n < 126) {
      header = Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]);
    } else if (n < 65536) {
      header = Buffer.from([0x81, 0x80 | 126, n >> 8, n & 255, 0, 0, 0, 0]);
    } else {
      header = Buffer.alloc(14);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(n), 2);
    }
    this.socket.write(Buffer.concat([header, payload]));
  }

  close(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer) {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      const payload = b.subarray(off, off + len);
      this.#buf = b.subarray(off + len);
      if (opcode === 1) this.onText(payload.toString());
      else if (opcode === 9) {
        // pong with the same payload (masked, zero key)
        this.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | payload.length, 0, 0, 0, 0]), payload]));
      } else if (opcode === 8) this.socket.destroy();
    }
  }
}
