import { connect, type Socket } from 'node:net';

/**
 * A minimal SSE reader for load generation: one raw HTTP/1.1 GET, chunked decoding
 * skipped (the `data:` lines are found in the byte stream as they come), one callback
 * per `data:` line. Cheap enough that the server, not the reader, is measured.
 */
export class MiniSse {
  onData: (line: string) => void = () => {};
  #rest = '';
  private constructor(readonly socket: Socket) {}

  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<MiniSse> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      const client = new MiniSse(socket);
      let gotHead = false;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        if (!gotHead) {
          const end = chunk.indexOf('\r\n\r\n');
          const status = chunk.slice(0, chunk.indexOf('\r\n'));
          if (!status.includes(' 200 ')) {
            socket.destroy();
            reject(new Error(`SSE refused: ${status}`));
            return;
          }
          gotHead = true;
          resolve(client);
          chunk = end >= 0 ? chunk.slice(end + 4) : '';
        }
        client.#feed(chunk);
      });
      socket.on('error', reject);
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n${extra}\r\n`,
      );
    });
  }

  #feed(chunk: string) {
    const text = this.#rest + chunk;
    let start = 0;
    for (;;) {
      const i = text.indexOf('data:', start);
      if (i < 0) break;
      const nl = text.indexOf('\n', i);
      if (nl < 0) {
        start = i;
        this.#rest = text.slice(i);
        return;
      }
      this.onData(text.slice(i + 5, nl));
      start = nl + 1;
    }
    this.#rest = '';
  }

  close() {
    this.socket.destroy();
  }
}
