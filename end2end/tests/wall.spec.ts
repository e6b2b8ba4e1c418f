import { test, expect } from '@playwright/test';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

const POLL_SECONDS = 2;

test('a server that goes down turns red on the wall within one poll interval, without a reload', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 4, pollSeconds: POLL_SECONDS });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  const tile = page.locator('.tile[data-target="demo-02"]');
  await expect(tile).toHaveAttribute('data-state', 'up', { timeout: 10_000 });
  await page.evaluate(() => ((window as any).__stayed = true));

  const injected = await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-02', fault: 'down', on: 'true' },
  });
  expect(injected.status()).toBe(200);
  const started = Date.now();
  // One poll interval, plus a second for ingest and the push.
  await expect(tile).toHaveAttribute('data-state', 'down', { timeout: POLL_SECONDS * 1000 + 1000 });
  console.log(`demo-02 turned red ${Date.now() - started} ms after the fault`);
  await expect(tile).toContainText('connection refused');
  await expect(page.locator('.wall-summary')).toContainText('1 down');
  expect(await page.evaluate(() => (window as any).__stayed)).toBe(true);

  await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-02', fault: 'down', on: 'false' },
  });
  await expect(tile).toHaveAttribute('data-state', 'up', { timeout: POLL_SECONDS * 1000 + 1000 });
  await mcpops.stop();
  noErrors();
});

test('a wall tile leads to its server page with charts, readiness, MCP and tools', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 3, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  await expect(page.locator('.tile[data-target="demo-01"]')).toHaveAttribute('data-state', 'up');
  // Give the collector two scrapes, so there is a rate and a latency to draw.
  await page.waitForTimeout(2500);
  await page.getByRole('link', { name: 'demo-01' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'demo-01' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'MCP handshake' })).toContainText('2025-11-25');
  await expect(page.getByRole('region', { name: 'Tools' })).toContainText('search_docs');
  await expect(page.getByRole('region', { name: 'Readiness', exact: true })).toContainText('database');

  const charts = page.locator('img.chart');
  await expect(charts).toHaveCount(4);
  for (const chart of await charts.all()) {
    await expect(chart).toHaveJSProperty('complete', true);
    expect(await chart.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  }
  await page.getByRole('navigation', { name: 'Time range' }).getByRole('link', { name: '15m' }).click();
  await expect(page).toHaveURL(/range=15m$/);
  await expect(page.locator('.ranges a[aria-current="page"]')).toHaveText(['15m']);
  await expect(charts.first()).toHaveAttribute('src', /range=15m/);
  await mcpops.stop();
  noErrors();
});
