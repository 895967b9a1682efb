import { MiniWs } from './wsclient.js';

/**
 * A minimal Socket.IO client over the WebSocket transport (engine.io v4 framing):
 * `40{auth}` connects the default namespace, `42[event,data]` is an event, `2`/`3` are
 * ping/pong. Just enough protocol to drive load without socket.io-client's CPU cost.
 */
export class MiniSio {
  onEvent: (event: string, raw: string) => void = () => {};
  private constructor(readonly ws: MiniWs) {}

  static async open(port: number, auth: Record<string, unknown> = {}): Promise<MiniSio> {
    const ws = await MiniWs.open(port, '/socket.io/?EIO=4&transport=websocket');
    const client = new MiniSio(ws);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket.io connect timed out')), 15_000);
      ws.onText = (t) => {
        if (t[0] === '0') ws.send(`40${JSON.stringify(auth)}`);
        else if (t.startsWith('40')) {
          clearTimeout(timer);
          resolve();
        } else if (t.startsWith('44')) {
          clearTimeout(timer);
          reject(new Error(`socket.io connect refused: ${t}`));
        }
      };
    });
    ws.onText = (t) => {
      if (t === '2') ws.send('3');
      else if (t.startsWith('42')) {
        const q = t.indexOf('"', 4);
        client.onEvent(t.slice(4, q), t);
      }
    };
    return client;
  }

  emitRaw(event: string, jsonData: string): void {
    this.ws.send(`42["${event}",${jsonData}]`);
  }

  close() {
    this.ws.close();
  }
}
