import { test, type CDPSession, type Page } from '@playwright/test';
import { signInQuietly, startMcpops } from '../tests/support/server';

// The link: 10 Mbit/s each way and 40 ms round trips.
const LINK = { offline: false, latency: 40, downloadThroughput: 10e6 / 8, uploadThroughput: 10e6 / 8 };

interface Load {
  bytes: number;
  requests: number;
  wasmBytes: number;
  interactiveMs: number;
}

/** Loads `url` on the throttled link: bytes on the wire, and the time until the page has hydrated. */
async function load(page: Page, cdp: CDPSession, url: string): Promise<Load> {
  const sizes = new Map<string, number>();
  const urls = new Map<string, string>();
  const onResponse = (event: { requestId: string; response: { url: string } }) => urls.set(event.requestId, event.response.url);
  const onFinished = (event: { requestId: string; encodedDataLength: number }) =>
    sizes.set(event.requestId, event.encodedDataLength);
  cdp.on('Network.responseReceived', onResponse);
  cdp.on('Network.loadingFinished', onFinished);
  const started = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(() => document.body?.dataset.hydrated === 'true', undefined, { timeout: 120_000 });
  const interactiveMs = Date.now() - started;
  // Requests still in flight when the page became interactive (the live stream) are not counted.
  cdp.off('Network.responseReceived', onResponse);
  cdp.off('Network.loadingFinished', onFinished);
  let bytes = 0;
  let wasmBytes = 0;
  for (const [id, size] of sizes) {
    bytes += size;
    if ((urls.get(id) ?? '').includes('.wasm')) wasmBytes += size;
  }
  return { bytes, requests: sizes.size, wasmBytes, interactiveMs };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

test('/wall on a 10 Mbit/s, 40 ms link: bytes and time to interactive, cold and warm', async ({ page }) => {
  // MCPOPS_SITE_ROOT (with MCPOPS_BIN) measures another build, e.g. the one before a change.
  const site = process.env.MCPOPS_SITE_ROOT;
  const mcpops = await startMcpops({
    demoServers: 12,
    pollSeconds: 5,
    env: site ? { MCPOPS__SERVER__SITE_ROOT: site } : {},
  });
  await signInQuietly(page, mcpops);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', LINK);
  const rows: string[] = [];
  const runs = 3;
  for (let run = 1; run <= runs; run++) {
    await cdp.send('Network.clearBrowserCache');
    const cold = await load(page, cdp, `${mcpops.url}/wall`);
    const warm = await load(page, cdp, `${mcpops.url}/wall`);
    rows.push(
      `| ${run} | ${kb(cold.bytes)} (${cold.requests} requests, WASM ${kb(cold.wasmBytes)}) | ${cold.interactiveMs} | ` +
        `${kb(warm.bytes)} (${warm.requests} requests, WASM ${kb(warm.wasmBytes)}) | ${warm.interactiveMs} |`,
    );
  }
  console.log(
    [
      '',
      '/wall, 12 demo servers, Chromium, 10 Mbit/s and 40 ms RTT (CDP Network.emulateNetworkConditions)',
      '',
      '| run | cold: transferred | cold: interactive ms | warm: transferred | warm: interactive ms |',
      '|---:|---|---:|---|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
  await mcpops.stop();
});
