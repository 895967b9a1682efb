import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const SCREENSHOTS = join(root, 'test-results/screenshots');
export const CHROMIUM_PATH = process.env.P3_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a quiet, headless Chromium with fake camera and microphone (no prompts). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * Builds the web app for the browser tests into test-results/web-<stamp of its newest
 * source> (the app, the SDK and the protocol it bundles) and returns that directory. Not
 * web/dist: `npm run build` elsewhere empties that while a test serves it. A build goes to
 * a temporary directory first and is renamed into place, so parallel runs never see half.
 */
export async function ensureWebBuild(): Promise<string> {
  const newest = Math.max(
    ...['web/src', 'web/public', 'web/index.html', 'web/vite.config.ts', 'src/client', 'src/protocol'].map(
      (p) => newestMtime(join(root, p)),
    ),
  );
  const dir = join(root, 'test-results', `web-${Math.floor(newest).toString(36)}`);
  if (existsSync(join(dir, 'index.html'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  // a child process: vitest sets NODE_ENV=test, which would give a development React build
  const vite = join(root, 'node_modules/vite/bin/vite.js');
  const run = spawnSync(
    process.execPath,
    [vite, 'build', '--config', 'web/vite.config.ts', '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'],
    { cwd: root, env: { ...process.env, NODE_ENV: 'production' }, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`vite build failed:\n${run.stdout}\n${run.stderr}`);
  try {
    renameSync(tmp, dir);
  } catch (error) {
    // another run renamed the same build first
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'index.html'))) throw error;
  }
  // builds of older sources, unused for 10 minutes (a run still serving one is left alone)
  const results = join(root, 'test-results');
  for (const entry of readdirSync(results)) {
    const path = join(results, entry);
    if (/^web-/.test(entry) && path !== dir && Date.now() - statSync(path).mtimeMs > 10 * 60_000) {
      rmSync(path, { recursive: true, force: true });
    }
  }
  return dir;
}

/** A TCP port free on loopback now (the server's SIWE domain must name it before it listens). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** Headless Debian Chromium; Playwright gives it a new, empty temporary profile. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Test instrumentation only: keeps every RTCPeerConnection the page creates in
 * `window.__p3pcs`, so the test can read getStats() itself instead of trusting the UI.
 */
const CAPTURE_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__p3pcs) return;
  const pcs = [];
  window.__p3pcs = pcs;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); pcs.push(this); }
  };
})();`;

export interface UserPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors, for failure messages. */
  problems: string[];
  /** The last signaling frames the page sent and received (type, room, to/from), for failure messages. */
  frames: string[];
}

/** One line per signaling frame: direction, type, the peers involved, an error's code; no tokens or SDP. */
function frameLine(dir: '>' | '<', payload: string | Buffer): string {
  try {
    const f = JSON.parse(String(payload)) as Record<string, unknown>;
    const data = f.data as { code?: string; type?: string; candidate?: string } | undefined;
    const detail =
      f.type === 'error'
        ? (data?.code ?? '')
        : f.type === 'ice'
          ? (data?.candidate ?? '').split(' ').slice(4, 8).join(' ') || 'end'
          : f.type === 'joined' && Array.isArray(f.peers)
            ? `peers=${f.peers.length}`
            : (data?.type ?? '');
    return `${new Date().toISOString().slice(11, 23)} ${dir} ${f.type} ${f.to ?? f.from ?? f.peerId ?? ''} ${detail}`.trim();
  } catch {
    return `${dir} (not JSON, ${payload.length} bytes)`;
  }
}

export async function newUserPage(
  browser: Browser,
  viewport = { width: 1200, height: 900 },
): Promise<UserPage> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript({ content: CAPTURE_PEER_CONNECTIONS });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  const frames: string[] = [];
  const keep = (line: string) => {
    frames.push(line);
    if (frames.length > 300) frames.splice(0, frames.length - 300);
  };
  page.on('websocket', (ws) => {
    if (!ws.url().includes('/signaling')) return;
    keep(`${new Date().toISOString().slice(11, 23)} open ${new URL(ws.url()).pathname}`);
    ws.on('framesent', (f) => keep(frameLine('>', f.payload)));
    ws.on('framereceived', (f) => keep(frameLine('<', f.payload)));
    ws.on('close', () => keep(`${new Date().toISOString().slice(11, 23)} close`));
  });
  return { context, page, problems, frames };
}

/** Opens the app and signs in with a fresh local test identity; resolves with its address. */
export async function signInLocal(page: Page, baseUrl: string, hash = '#/chat'): Promise<string> {
  await page.goto(`${baseUrl}/${hash}`);
  await page.getByRole('button', { name: 'Use a local test identity' }).click();
  const me = page.getByTestId('my-address');
  await me.waitFor({ timeout: 20_000 });
  return (await me.getAttribute('data-address')) ?? '';
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Sum of bytesReceived of the page's inbound audio RTP streams (all live connections). */
export function inboundAudioBytes(page: Page): Promise<number> {
  return page.evaluate(async () => {
    let total = 0;
    for (const pc of (window as unknown as { __p3pcs: RTCPeerConnection[] }).__p3pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') total += s.bytesReceived ?? 0;
      });
    }
    return total;
  });
}

/** The local and remote candidate types of each live connection's selected pair. */
export function selectedCandidateTypes(
  page: Page,
): Promise<{ local: string; remote: string; state: string }[]> {
  return page.evaluate(async () => {
    const out: { local: string; remote: string; state: string }[] = [];
    for (const pc of (window as unknown as { __p3pcs: RTCPeerConnection[] }).__p3pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      let pairId: string | undefined;
      report.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      const pair = pairId ? report.get(pairId) : undefined;
      out.push({
        local: pair ? report.get(pair.localCandidateId)?.candidateType : 'none',
        remote: pair ? report.get(pair.remoteCandidateId)?.candidateType : 'none',
        state: pc.connectionState,
      });
    }
    return out;
  });
}
