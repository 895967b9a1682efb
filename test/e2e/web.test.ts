/**
 * The web app in a real browser: Debian's Chromium (headless, fake camera and microphone)
 * driving the built app served by a real server, with a real coturn for the relay call.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  createPulseNode,
  createTaskClient,
  type PulseNode,
  signInWithEthereum,
} from '../../src/client/index.js';
import {
  ensureWebBuild,
  freePort,
  launchBrowser,
  newUserPage,
  SCREENSHOTS,
  screenshot,
  selectedCandidateTypes,
  signInLocal,
  type UserPage,
} from '../helpers/browser.js';
import { type Coturn, startCoturn } from '../helpers/coturn.js';
import { startServer, TEST_SERVICE_KEY, type TestServer } from '../helpers/server.js';
import { newAccount } from '../helpers/siwe.js';
import { expectAudioGrowing, expectConnected, expectQualityShown, go, T, turnUsernames } from './checks.js';

describe('web app (Chromium, fake media, real coturn)', { timeout: 90_000 }, () => {
  let server: TestServer;
  let turn: Coturn;
  let browser: Browser;
  let a: UserPage;
  let b: UserPage;
  let addrA: string;
  let addrB: string;
  let worker: PulseNode | undefined;
  let webRoot: string;

  beforeAll(async () => {
    webRoot = await ensureWebBuild();
    turn = await startCoturn();
    const port = await freePort();
    server = await startServer({
      port,
      // the app signs SIWE messages for the host it was loaded from
      siweDomain: `127.0.0.1:${port}`,
      stunUrls: [],
      turnUrls: turn.urls,
      turnSecret: turn.secret,
      webRoot,
    });
    browser = await launchBrowser();
    [a, b] = await Promise.all([newUserPage(browser), newUserPage(browser)]);
    [addrA, addrB] = await Promise.all([signInLocal(a.page, server.url), signInLocal(b.page, server.url)]);
  }, 120_000);

  afterAll(async () => {
    worker?.close();
    await browser?.close();
    await server?.close();
    await turn?.stop();
    // coturn's log (allocations, refusals) next to the screenshots, for a failed run
    mkdirSync(SCREENSHOTS, { recursive: true });
    if (turn) writeFileSync(join(SCREENSHOTS, 'coturn.log'), turn.output());
  });

  /** From the chat pages, A calls B and B answers the prompt with `answer`. */
  async function aCallsB(media: 'Audio' | 'Video', answer: 'Accept' | 'Reject') {
    await go(a.page, `#/chat/${addrB}`);
    await go(b.page, `#/chat/${addrA}`);
    await a.page.getByRole('button', { name: `${media} call` }).click();
    await b.page
      .getByRole('alertdialog', { name: new RegExp(`Incoming ${media.toLowerCase()} call`) })
      .getByRole('button', { name: answer })
      .click({ timeout: T });
  }

  it('signs in with two local test identities', async () => {
    expect(addrA).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(addrB).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(addrA).not.toBe(addrB);
    await expect(a.page.getByText('local test identity').first().isVisible()).resolves.toBe(true);
  });

  it('A messages B: B sees presence, typing and the message; A sees it read', async () => {
    await go(b.page, `#/chat/${addrA}`);
    await go(a.page, `#/chat/${addrB}`);
    // presence: each sees the other online
    await a.page.getByTestId('presence').filter({ hasText: 'online' }).waitFor({ timeout: T });
    await b.page.getByTestId('presence').filter({ hasText: 'online' }).waitFor({ timeout: T });

    const box = a.page.getByRole('textbox', { name: 'Message', exact: true });
    await box.pressSequentially('Hello B, <b>not bold</b>');
    await b.page.getByTestId('typing').filter({ hasText: 'typing' }).waitFor({ timeout: T });
    await box.press('Enter');

    const received = b.page.locator('.msg').filter({ hasText: 'Hello B, <b>not bold</b>' });
    await received.waitFor({ timeout: T });
    // rendered as text: no <b> element was created from the message
    expect(await b.page.locator('.messages b').count()).toBe(0);
    await b.page.getByTestId('typing').filter({ hasText: /^$/ }).waitFor({ timeout: T });
    // B has the conversation open: A's message turns "read"
    await a.page.locator('.msg.mine[data-status="read"]').waitFor({ timeout: T });

    await b.page.getByRole('textbox', { name: 'Message', exact: true }).fill('Hi A');
    await b.page.getByRole('button', { name: 'Send' }).click();
    await a.page.locator('.msg').filter({ hasText: 'Hi A' }).waitFor({ timeout: T });
    await screenshot(a.page, 'chat-a');
    await screenshot(b.page, 'chat-b');
  });

  it('A calls B, B accepts: both connected, audio flowing both ways, quality shown', async () => {
    a.frames.length = 0;
    b.frames.length = 0;
    await a.page.getByRole('button', { name: 'Audio call' }).click();
    const prompt = b.page.getByRole('alertdialog', { name: /Incoming audio call/ });
    await prompt.waitFor({ timeout: T });
    await screenshot(b.page, 'incoming-call');
    await prompt.getByRole('button', { name: 'Accept' }).click();

    await Promise.all([expectConnected(a, 'A'), expectConnected(b, 'B')]);
    // no glare on the join: the side that joined second offered, the other answered with its
    // media (both offering at once would make both first descriptions offers). A sends the
    // invitation before it joins the room, so on a slow machine B can be in the room first.
    const firstDescription = (u: UserPage) =>
      u.frames.find((f) => / > (offer|answer) /.test(f))?.split(' ')[2];
    const second = (u: UserPage) => u.frames.some((f) => / < joined .*peers=1$/.test(f));
    expect([second(a), second(b)].sort()).toEqual([false, true]);
    expect([firstDescription(a), firstDescription(b)]).toEqual(
      second(a) ? ['offer', 'answer'] : ['answer', 'offer'],
    );
    await Promise.all([expectAudioGrowing(a.page), expectAudioGrowing(b.page)]);
    await Promise.all([expectQualityShown(a.page), expectQualityShown(b.page)]);
    await screenshot(a.page, 'call-a');
    await screenshot(b.page, 'call-b');

    const mute = a.page.getByRole('button', { name: 'Mute' });
    await mute.click();
    await a.page
      .getByRole('button', { name: 'Unmute' })
      .and(a.page.locator('[aria-pressed="true"]'))
      .waitFor();
    await a.page.getByRole('button', { name: 'Unmute' }).click();

    await a.page.getByRole('button', { name: 'Hang up' }).click();
    await b.page
      .getByText(/hung up|left/)
      .first()
      .waitFor({ timeout: T });
    await b.page.getByRole('button', { name: 'Hang up' }).click();
    await b.page.getByTestId('call-status').filter({ hasText: 'Call ended' }).waitFor({ timeout: T });
  });

  it('B rejects a call: A is told in words and the call ends', async () => {
    await aCallsB('Video', 'Reject');
    await a.page.getByText('declined the call').waitFor({ timeout: T });
    await a.page.getByTestId('call-status').filter({ hasText: 'Call ended' }).waitFor({ timeout: T });
    expect(await b.page.getByRole('alertdialog', { name: /Incoming video call/ }).count()).toBe(0);
  });

  it('leaving the call page ends the call: both can be called again at once', async () => {
    await aCallsB('Audio', 'Accept');
    await Promise.all([expectConnected(a, 'A'), expectConnected(b, 'B')]);
    // both go elsewhere in the app (the chat pages) without pressing Hang up, and call again
    await aCallsB('Audio', 'Reject');
    await a.page.getByText('declined the call').waitFor({ timeout: T });
  });

  it('a call whose join fails (no microphone) ends for both: A is told, and both can be called again', async () => {
    // B's browser refuses the microphone (hash navigation keeps the page, and the override)
    await b.page.evaluate(() => {
      const md = navigator.mediaDevices as MediaDevices & { realGetUserMedia?: MediaDevices['getUserMedia'] };
      md.realGetUserMedia = md.getUserMedia.bind(md);
      md.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    });
    await aCallsB('Audio', 'Accept');
    await b.page.getByTestId('call-status').filter({ hasText: 'Call ended' }).waitFor({ timeout: T });
    await a.page.getByText('ended the call').waitFor({ timeout: T });
    await b.page.evaluate(() => {
      const md = navigator.mediaDevices as MediaDevices & { realGetUserMedia?: MediaDevices['getUserMedia'] };
      if (md.realGetUserMedia) md.getUserMedia = md.realGetUserMedia;
    });
    // neither is busy: a new call rings at once
    await aCallsB('Audio', 'Reject');
    await a.page.getByText('declined the call').waitFor({ timeout: T });
  });

  it('a relay-only video call connects through coturn with the server’s ephemeral credentials', async () => {
    const room = `relay-${Date.now()}`;
    await go(a.page, `#/call/${room}?media=video&relay=1&join=1`);
    await go(b.page, `#/call/${room}?media=video&relay=1&join=1`);
    await Promise.all([expectConnected(a, 'A (relay)'), expectConnected(b, 'B (relay)')]).catch(
      (e: Error) => {
        // what coturn saw (allocations, refusals) is what explains a relay call that did not connect
        const sessions = turn
          .output()
          .split('\n')
          .filter((l) => l.includes('session'))
          .slice(-40);
        e.message += `\ncoturn:\n${sessions.join('\n')}`;
        throw e;
      },
    );
    for (const u of [a, b]) {
      const policies = await u.page.evaluate(() =>
        (window as unknown as { __p3pcs: RTCPeerConnection[] }).__p3pcs
          .filter((pc) => pc.connectionState === 'connected')
          .map((pc) => pc.getConfiguration().iceTransportPolicy),
      );
      expect(policies).toContain('relay');
      expect(policies.every((p) => p === 'relay')).toBe(true);
      const pairs = (await selectedCandidateTypes(u.page)).filter((p) => p.state === 'connected');
      expect(pairs.length).toBeGreaterThan(0);
      for (const p of pairs) expect(p.local).toBe('relay');
      await u.page.getByTestId('route').filter({ hasText: 'relayed by TURN' }).waitFor({ timeout: T });
    }
    await Promise.all([expectAudioGrowing(a.page), expectAudioGrowing(b.page)]);
    // the remote video plays (fake camera frames decoded)
    await a.page.waitForFunction(
      () =>
        [...document.querySelectorAll('video')].some(
          (v) => !v.muted && v.videoWidth > 0 && v.currentTime > 0,
        ),
      undefined,
      { timeout: T },
    );
    // the connections use the server's ephemeral coturn REST-API credentials: "<expiry>:<address>"
    for (const [u, address] of [
      [a, addrA],
      [b, addrB],
    ] as const) {
      const users = await turnUsernames(u.page);
      expect(users.length).toBeGreaterThan(0);
      for (const name of users) {
        const [expiry, who] = name.split(':');
        expect(Number(expiry)).toBeGreaterThan(Date.now() / 1000);
        expect(who?.toLowerCase()).toBe(address.toLowerCase());
      }
    }
    await expectQualityShown(a.page);
    await screenshot(a.page, 'call-relay');
    await a.page.getByRole('button', { name: 'Camera off' }).click();
    await a.page
      .getByRole('button', { name: 'Camera on' })
      .and(a.page.locator('[aria-pressed="true"]'))
      .waitFor();
    await a.page.getByRole('button', { name: 'Hang up' }).click();
    await b.page.getByRole('button', { name: 'Hang up' }).click();
  });

  it('the dashboard shows a pulse worker, its metrics, the task queue and results', async () => {
    const account = newAccount();
    const { token } = await signInWithEthereum({
      url: server.url,
      signer: account,
      domain: `127.0.0.1:${server.port}`,
    });
    let tick = 0;
    worker = createPulseNode({
      url: server.url,
      token,
      WebSocket: WebSocket as never,
      nodeId: 'e2e-worker-1',
      capabilities: ['echo'],
      region: 'eu-test-1',
      version: '1.2.3',
      metricsIntervalMs: 300,
      metrics: () => ({ cpu: 20 + ((tick++ * 7) % 30), latencyMs: 5 + (tick % 4) }),
      handleTask: (task) => ({ echoed: task.payload }),
    });
    await new Promise((resolve) => worker!.once('registered', resolve));

    await go(a.page, '#/pulse');
    const row = a.page.locator('tr[data-node="e2e-worker-1"]');
    await row
      .filter({ hasText: 'online' })
      .filter({ hasText: 'echo' })
      .filter({ hasText: 'eu-test-1' })
      .waitFor({ timeout: T });
    // metrics charts fill up with live samples
    await a.page.waitForFunction(
      () =>
        (
          document.querySelector('[data-metrics-node="e2e-worker-1"] polyline')?.getAttribute('points') ?? ''
        ).split(' ').length >= 3,
      undefined,
      { timeout: T },
    );

    // a task from a backend: its status arrives on the stream; the key (typed in) reads its result
    const tasks = createTaskClient({ url: server.url, serviceKey: TEST_SERVICE_KEY });
    const { taskId } = await tasks.submit({ kind: 'echo', payload: { n: 42 } });
    await a.page.locator(`tr[data-task="${taskId}"][data-status="done"]`).waitFor({ timeout: T });
    await a.page.getByLabel('Service key').fill(TEST_SERVICE_KEY);
    await a.page.getByRole('button', { name: 'Use key' }).click();
    await a.page.locator(`tr[data-task="${taskId}"]`).filter({ hasText: '"n":42' }).waitFor({ timeout: T });
    // a task no node can run waits in the queue
    const waiting = await tasks.submit({ kind: 'render', capability: 'gpu', payload: {} });
    await a.page
      .getByRole('region', { name: /Task queue/ })
      .locator(`tr[data-task="${waiting.taskId}"][data-status="queued"]`)
      .waitFor({ timeout: T });
    await screenshot(a.page, 'pulse');
  });

  it('a sign-in the server refuses is explained in words', async () => {
    // a server that expects another SIWE domain than the page's host
    const other = await startServer({ siweDomain: 'rt.example.com', stunUrls: [], webRoot });
    const u = await newUserPage(browser, { width: 390, height: 844 });
    try {
      await u.page.goto(`${other.url}/`);
      await u.page.getByRole('button', { name: 'Use a local test identity' }).click();
      await u.page
        .getByRole('alert')
        .filter({ hasText: 'accepts sign-ins for rt.example.com' })
        .waitFor({ timeout: T });
      await screenshot(u.page, 'mobile-sign-in-error');
    } finally {
      await u.context.close();
      await other.close();
    }
  });

  it('works on a phone-sized screen', async () => {
    await a.page.setViewportSize({ width: 390, height: 844 });
    await go(a.page, `#/chat/${addrB}`);
    await a.page.getByRole('textbox', { name: 'Message', exact: true }).waitFor();
    await screenshot(a.page, 'mobile-chat');
    await go(a.page, '#/pulse');
    await a.page.locator('tr[data-node="e2e-worker-1"]').waitFor();
    await screenshot(a.page, 'mobile-pulse');
    await go(a.page, '#/call');
    await a.page.getByRole('button', { name: 'Join' }).waitFor();
    await screenshot(a.page, 'mobile-call-join');
    // nothing sticks out sideways (wide tables scroll inside their own box)
    const wide = await a.page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
        .filter((el) => !el.closest('.table-wrap'))
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
    );
    expect(wide).toEqual([]);
  });

  it('when B leaves, A sees B offline with a last-seen time', async () => {
    await a.page.setViewportSize({ width: 1200, height: 900 });
    await go(a.page, `#/chat/${addrB}`);
    await b.context.close();
    await a.page
      .getByTestId('presence')
      .filter({ hasText: /offline, last seen/ })
      .waitFor({ timeout: T });
    expect(await a.page.locator('[data-presence="offline"]').count()).toBeGreaterThan(0);
  });

  it('no page errors were thrown', () => {
    const errors = [...a.problems, ...b.problems].filter((p) => p.startsWith('pageerror'));
    expect(errors).toEqual([]);
    if (a.problems.length + b.problems.length > 0)
      console.info('browser console errors:', [...a.problems, ...b.problems]);
  });
});
