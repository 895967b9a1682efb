/** What the browser tests check on a page, each by waiting for a condition (no fixed sleeps). */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { inboundAudioBytes, screenshot, type UserPage } from '../helpers/browser.js';

/** Longest wait for one condition: 2 shared cores, several test suites at once. */
export const T = 45_000;

/** Client-side navigation (no reload): the app follows the hash. */
export const go = (page: Page, hash: string) => page.evaluate((h) => (window.location.hash = h), hash);

/** The page shows a peer connected, and the RTCPeerConnection itself says `connected`. */
export async function expectConnected(u: UserPage, what: string) {
  await u.page
    .getByTestId('connection-state')
    .filter({ hasText: /^connected$/ })
    .first()
    .waitFor({ timeout: T })
    .catch(async (e: Error) => {
      const pcs = await u.page
        .evaluate(() =>
          (window as unknown as { __p3pcs: RTCPeerConnection[] }).__p3pcs.map(
            (pc) =>
              `${pc.connectionState}/${pc.iceConnectionState}/${pc.iceGatheringState}/${pc.signalingState}`,
          ),
        )
        .catch(() => []);
      const status = await u.page
        .getByTestId('call-status')
        .textContent()
        .catch(() => '?');
      await screenshot(u.page, `failure-${what.replace(/\W+/g, '-')}`).catch(() => {});
      throw new Error(
        `${what}: call not connected (${e.message})\nstatus: ${status}\npeer connections: ${pcs.join(', ')}\n${u.problems.join('\n')}\nsignaling frames:\n${u.frames.join('\n')}`,
      );
    });
  const states = await u.page.evaluate(() =>
    (window as unknown as { __p3pcs: RTCPeerConnection[] }).__p3pcs.map((pc) => pc.connectionState),
  );
  expect(states).toContain('connected');
}

/** TURN usernames in the ICE config of the page's live connections. */
export const turnUsernames = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as { __p3pcs: RTCPeerConnection[] }).__p3pcs
      .filter((pc) => pc.connectionState === 'connected')
      .flatMap((pc) => pc.getConfiguration().iceServers ?? [])
      .filter((s) => [s.urls].flat().some((u) => u.startsWith('turn:')))
      .map((s) => s.username ?? ''),
  );

/** Inbound audio keeps arriving: two increases in a row. */
export async function expectAudioGrowing(page: Page) {
  let last = await inboundAudioBytes(page);
  for (let i = 0; i < 2; i++) {
    const before = last;
    await expect
      .poll(async () => (last = await inboundAudioBytes(page)), { timeout: T, interval: 250 })
      .toBeGreaterThan(before);
  }
}

/** A quality level computed from samples (not the default before any arrived). */
export async function expectQualityShown(page: Page) {
  await page.waitForFunction(
    () => {
      const panel = document.querySelector('[data-samples]');
      const level = document.querySelector('[data-testid="quality-level"]')?.getAttribute('data-level');
      return (
        Number(panel?.getAttribute('data-samples')) >= 2 &&
        ['excellent', 'good', 'poor', 'critical'].includes(level ?? '')
      );
    },
    undefined,
    { timeout: T },
  );
}
