/**
 * A command-line chat over the messaging surface: direct messages (at least once, shown
 * once), presence and typing indicators.
 *
 *   npm start                                   # a server on http://localhost:8080
 *   npx tsx examples/chat.ts                    # prints your address
 *   npx tsx examples/chat.ts 0xTheOtherAddress  # in a second terminal, talk to the first
 *
 * Type a line to send it; `/to 0x…` changes the recipient; `/away`, `/online`; `/quit`.
 * Environment: P3_URL (default http://localhost:8080), P3_PRIVATE_KEY (default: a new key),
 * P3_SIWE_DOMAIN (default: the URL's host).
 */
import { createInterface } from 'node:readline';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  type AuthSession,
  createAuthSession,
  createMessagingClient,
  type MessagingClient,
} from '../src/client/index.js';

let auth: AuthSession | undefined;
let chat: MessagingClient | undefined;
let peer = process.argv[2];

// the prompt exists from the start, so input that ends early (a pipe) still ends the program
const rl = createInterface({ input: process.stdin, output: process.stdout });
rl.on('close', shutdown);
rl.setPrompt('> ');
const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;
const say = (line: string) => {
  // print above the prompt without eating what the user is typing
  process.stdout.write(`\r\x1b[K${line}\n`);
  rl.prompt(true);
};

const url = process.env.P3_URL ?? 'http://localhost:8080';
const account = privateKeyToAccount((process.env.P3_PRIVATE_KEY as `0x${string}`) ?? generatePrivateKey());
auth = createAuthSession({
  url,
  signer: account,
  ...(process.env.P3_SIWE_DOMAIN ? { domain: process.env.P3_SIWE_DOMAIN } : {}),
});
await auth.signIn();
const client = createMessagingClient({ url, token: auth });
chat = client;

console.log(
  `you are ${auth.address}${peer ? `, talking to ${peer}` : ': start the other side with this address'}`,
);
client.on('state', ({ to }) => say(`[${to}]`));
client.on('message', (m) => say(`${short(m.from)}: ${m.content}`));
client.on('typing', (t) => t.isTyping && say(`${short(t.from)} is typing…`));
client.on('presence', (p) => say(`${short(p.address)} is ${p.status}`));
client.on('error', (e) => say(`! ${e.code}: ${e.message}`));
if (peer) await client.subscribePresence([peer]).catch(() => {});
rl.prompt();

// typing indicators while the user types (throttled by the client)
process.stdin.on('keypress', () => peer && client.typing(peer));

rl.on('line', async (line) => {
  const text = line.trim();
  if (text === '/quit') return shutdown();
  if (text === '/away' || text === '/online') client.setPresence(text.slice(1) as 'away' | 'online');
  else if (text.startsWith('/to ')) {
    peer = text.slice(4).trim();
    await client.subscribePresence([peer]).catch((e) => say(`! ${e.message}`));
  } else if (text && peer) {
    client.stopTyping(peer);
    try {
      await client.send(peer, text);
    } catch (e) {
      say(`! not sent: ${(e as Error).message}`);
    }
  } else if (text) say('! no recipient: /to 0x…');
  rl.prompt();
});

function shutdown() {
  chat?.close();
  auth?.close();
  process.exit(0);
}
