import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A raw WebSocket client for conformance tests: performs the handshake, then sends any
 * bytes (bad opcodes, reserved bits, unmasked frames…) and reports the server's close code.
 */
export class RawWs {
  readonly socket: Socket;
  readonly responseHead: string;
  #buf = Buffer.alloc(0);
  readonly texts: string[] = [];
  closeCode: number | undefined;
  closed = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket, head: string, rest: Buffer) {
    this.socket = socket;
    this.responseHead = head;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
    if (rest.length) this.#onData(rest);
  }

  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const text = head.subarray(0, end).toString();
        if (!text.startsWith('HTTP/1.1 101')) {
          socket.destroy();
          reject(new Error(text.split('\r\n')[0]));
          return;
        }
        resolve(new RawWs(socket, text, head.subarray(end + 4)));
      };
      socket.on('data', onData);
      socket.on('error', reject);
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
  }

  /** Builds a frame. `mask: false` makes an (illegal) unmasked client frame. */
  static frame(
    opcode: number,
    payload: Buffer | string,
    opts: { fin?: boolean; rsv?: number; mask?: boolean } = {},
  ): Buffer {
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const fin = opts.fin ?? true;
    const mask = opts.mask ?? true;
    const b0 = (fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode;
    const n = data.length;
    const lenBytes =
      n < 126
        ? Buffer.from([(mask ? 0x80 : 0) | n])
        : n < 65536
          ? Buffer.from([(mask ? 0x80 : 0) | 126, n >> 8, n & 255])
          : (() => {
              const b = Buffer.alloc(9);
              b[0] = (mask ? 0x80 : 0) | 127;
              b.writeBigUInt64BE(BigInt(n), 1);
              return b;
            })();
    if (!mask) return Buffer.concat([Buffer.from([b0]), lenBytes, data]);
    const key = randomBytes(4);
    const masked = Buffer.alloc(n);
    for (let i = 0; i < n; i++) masked[i] = data[i]! ^ key[i & 3]!;
    return Buffer.concat([Buffer.from([b0]), lenBytes, key, masked]);
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  sendText(text: string): void {
    this.send(RawWs.frame(1, text));
  }

  /** Resolves with the close code the server sent (or undefined if it just dropped the socket). */
  async waitClose(timeoutMs = 10_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error('server did not close the connection');
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.closeCode;
  }

  async waitText(pred: (t: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.texts.find(pred);
      if (hit) return hit;
      if (this.closed || Date.now() > deadline)
        throw new Error(`no matching frame (got ${this.texts.join(' | ')})`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  destroy() {
    this.socket.destroy();
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
  }

  #onData(chunk: Buffer) {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) break;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) break;
      const payload = b.subarray(off, off + len);
      this.#buf = b.subarray(off + len);
      if (opcode === 1) this.texts.push(payload.toString());
      else if (opcode === 8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    }
    this.#wake();
  }
}
