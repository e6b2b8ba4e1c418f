// Pages that tell the truth about themselves: a wall that has lost its console says so, a
// target whose polls stopped turns stale, and charts move without a reload.
import { test, expect } from '@playwright/test';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

test('a wall whose console stops says so within two intervals, and recovers by itself', async ({ page }) => {
  const pollSeconds = 5;
  let mcpops = await startMcpops({ demoServers: 3, pollSeconds });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  const badge = page.locator('.topbar [data-connection]');
  await expect(badge).toHaveAttribute('data-connection', 'live');
  await expect(page.locator('.wall-clock')).toHaveText(/^\d\d:\d\d:\d\d$/);
  await expect(page.locator('.stale-banner')).toHaveCount(0);

  await mcpops.stop();
  const stopped = Date.now();
  const banner = page.locator('.stale-banner');
  await expect(banner).toBeVisible({ timeout: 2 * pollSeconds * 1000 });
  console.log(`the banner showed ${Date.now() - stopped} ms after the console stopped`);
  await expect(banner).toContainText('No update for');
  await expect(badge).toHaveAttribute('data-connection', /reconnecting|offline/);
  await expect(page.locator('section.wall')).toHaveClass(/stale-view/);
  await page.screenshot({ path: test.info().outputPath('wall-console-down.png') });

  mcpops = await startMcpops({ demoServers: 3, pollSeconds, dataDir: mcpops.dataDir, port: mcpops.port });
  await expect(banner).toHaveCount(0, { timeout: 20_000 });
  await expect(badge).toHaveAttribute('data-connection', 'live');
  await expect(badge).toContainText('back since');
  await expect(page.locator('section.wall')).not.toHaveClass(/stale-view/);
  await expect(page.locator('.tile[data-target="demo-01"]')).toHaveAttribute('data-state', 'up', { timeout: 15_000 });
  await mcpops.stop();
});

test('a target whose polls stop turns stale on the wall, with an alert', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const pollSeconds = 2;
  // Polls of a hung server wait out this timeout, well past three intervals.
  const mcpops = await startMcpops({
    demoServers: 2,
    pollSeconds,
    env: { MCPOPS__COLLECTOR__TIMEOUT_MS: '30000' },
  });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  const tile = page.locator('.tile[data-target="demo-02"]');
  await expect(tile).toHaveAttribute('data-state', 'up', { timeout: 10_000 });

  const injected = await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-02', fault: 'hang', on: 'true' },
  });
  expect(injected.status()).toBe(200);
  // Three intervals without a poll, plus the five-second look for stale targets.
  await expect(tile).toHaveAttribute('data-state', 'stale', { timeout: 3 * pollSeconds * 1000 + 8_000 });
  await expect(tile).toContainText('no poll for');
  await expect(page.locator('.wall-summary')).toContainText('1 stale');
  await expect(page.getByRole('region', { name: 'Alerts' })).toContainText('Polls stopped', { timeout: 10_000 });
  await page.screenshot({ path: test.info().outputPath('wall-stale-target.png') });

  await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-02', fault: 'hang', on: 'false' },
  });
  noErrors();
  await mcpops.stop();
});

test('a server page chart moves without a reload, and a fresh demo has lines at 15m and 1h', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 2, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  // Before many polls: the seeded history fills the charts.
  for (const range of ['15m', '1h']) {
    const svg = await (await page.request.get(`${mcpops.url}/charts/1/latency.svg?range=${range}`)).text();
    const longest = Math.max(0, ...[...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1].trim().split(/\s+/).length));
    expect(longest, `the ${range} latency chart draws a line`).toBeGreaterThan(5);
  }
  await page.goto(`${mcpops.url}/targets/1?range=15m`);
  await waitForHydration(page);
  const chart = page.locator('img.chart').first();
  const before = await chart.getAttribute('src');
  await expect.poll(() => chart.getAttribute('src'), { timeout: 15_000 }).not.toBe(before);
  await expect(chart).toHaveJSProperty('complete', true);
  expect(await chart.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  noErrors();
  await mcpops.stop();
});
