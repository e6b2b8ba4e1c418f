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
  noErrors();
  await mcpops.stop();
});

test('a wall tile leads to its server page with charts, readiness, MCP and tools', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 3, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  await expect(page.locator('.tile[data-target="demo-01"]')).toHaveAttribute('data-state', 'up');
  // Two scrapes at least, so there is a rate and a latency to draw: the tile's sparkline says.
  const polled = page.locator('.tile[data-target="demo-01"]').getByRole('img', { name: 'p95 latency, last polls' }).locator('polyline');
  await expect
    .poll(async () => ((await polled.getAttribute('points')) ?? '').split(' ').filter(Boolean).length, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(2);
  await page.getByRole('link', { name: 'demo-01' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'demo-01' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'MCP handshake' })).toContainText('2025-11-25');
  await expect(page.getByRole('region', { name: 'Tools' })).toContainText('search_docs');
  await expect(page.getByRole('region', { name: 'Readiness', exact: true })).toContainText('database');

  const charts = page.locator('img.chart');
  // The golden signals, then memory, usage and quota: everything the metrics say.
  await expect(charts).toHaveCount(7);
  await expect(page.getByRole('img', { name: 'Resident memory' })).toBeVisible();
  for (const chart of await charts.all()) {
    await expect(chart).toHaveJSProperty('complete', true);
    expect(await chart.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  }
  await page.getByRole('navigation', { name: 'Time range' }).getByRole('link', { name: '15m' }).click();
  await expect(page).toHaveURL(/range=15m$/);
  await expect(page.locator('.ranges a[aria-current="page"]')).toHaveText(['15m']);
  await expect(charts.first()).toHaveAttribute('src', /range=15m/);
  noErrors();
  await mcpops.stop();
});

test('a small fleet shows sparklines on every tile and the fleet golden-signal charts', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 4, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  await page.setViewportSize({ width: 1920, height: 1080 });
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  const tile = page.locator('.tile[data-target="demo-01"]');
  // Sparklines grow with each live poll, without a reload.
  const line = tile.getByRole('img', { name: 'p95 latency, last polls' }).locator('polyline');
  await expect
    .poll(async () => ((await line.getAttribute('points')) ?? '').split(' ').filter(Boolean).length, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(3);
  await expect(tile.getByRole('img', { name: 'error rate, last polls' })).toBeVisible();

  // The demo seeds a day of minute rollups, so the fleet charts have an hour to draw.
  const charts = page.getByRole('region', { name: 'Fleet golden signals, last hour' }).locator('img.chart');
  await expect(charts).toHaveCount(4);
  for (const chart of await charts.all()) {
    await expect(chart).toHaveAttribute('src', /^\/charts\/fleet\/\w+\.svg\?range=1h/);
    await expect.poll(() => chart.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  }
  const svg = await page.request.get(`${mcpops.url}/charts/fleet/traffic.svg?range=1h`);
  expect(svg.status()).toBe(200);
  expect(await svg.text()).toContain('requests/s');
  await page.screenshot({ path: 'test-results/wall-small-fleet.png', fullPage: true });
  noErrors();
  await mcpops.stop();
});

test('1,600 targets fit the wall as cells grouped by team; a fault shows in its cell and its group', async ({ page }) => {
  test.setTimeout(120_000);
  const noErrors = watchForErrors(page);
  const pollSeconds = 5;
  const mcpops = await startMcpops({
    demoServers: 1600,
    pollSeconds,
    env: { MCPOPS__DEMO__SEED_HISTORY: 'false' },
  });
  await signInQuietly(page, mcpops);
  await page.setViewportSize({ width: 1920, height: 1080 });
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  await expect(page.locator('.tiles.dense .tile')).toHaveCount(1600);
  const groups = page.locator('.tile-group-name');
  await expect(groups).toHaveCount(3);
  await expect(groups.nth(0)).toContainText('team: payments');
  // demo-0002 is the second server: team payments.
  const cell = page.locator('.tile[data-target="demo-0002"]');
  await expect(cell).toHaveAttribute('data-state', 'up', { timeout: 3 * pollSeconds * 1000 });
  // The cell's link is named by its title, for screen readers and on hover.
  await expect(cell.getByRole('link', { name: 'demo-0002: up' })).toBeVisible();
  // Every cell is on the first screen of a 1080p wall.
  const bottom = await page.locator('.tile-group').last().evaluate((el) => el.getBoundingClientRect().bottom);
  expect(bottom).toBeLessThanOrEqual(1080);

  const injected = await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-0002', fault: 'down', on: 'true' },
  });
  expect(injected.status()).toBe(200);
  await expect(cell).toHaveAttribute('data-state', 'down', { timeout: pollSeconds * 1000 + 2000 });
  const payments = page.getByRole('region', { name: 'Group team: payments' });
  await expect(payments.locator('.tile-group-name')).toHaveClass(/has-down/);
  await expect(payments.locator('.group-count.status-down')).toHaveText('1 down');
  await page.screenshot({ path: 'test-results/wall-1600.png' });
  noErrors();
  await mcpops.stop();
});

test('at 1920×1080 with twelve servers, no wall text is under 20 px as displayed, chart text included', async ({ page }) => {
  const noErrors = watchForErrors(page);
  await page.setViewportSize({ width: 1920, height: 1080 });
  const mcpops = await startMcpops({ demoServers: 12, pollSeconds: 2 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  await expect(page.locator('.tile[data-target="demo-12"]')).toHaveAttribute('data-state', 'up', { timeout: 15_000 });
  const charts = page.locator('.fleet-charts img.chart');
  await expect(charts).toHaveCount(4);
  for (const chart of await charts.all()) await expect(chart).toHaveJSProperty('complete', true);

  // Every visible text node's computed size.
  const smallestText = await page.evaluate(() => {
    let smallest = { px: Infinity, text: '' };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = (node.textContent ?? '').trim();
      const element = node.parentElement;
      if (!text || !element || element.closest('svg, script, style, template')) continue;
      const box = element.getBoundingClientRect();
      const style = getComputedStyle(element);
      if (box.width === 0 || box.height === 0 || style.visibility === 'hidden' || style.display === 'none') continue;
      const px = parseFloat(style.fontSize);
      if (px < smallest.px) smallest = { px, text };
    }
    return smallest;
  });
  console.log(`smallest page text: ${smallestText.px} px ("${smallestText.text}")`);
  expect(smallestText.px, `"${smallestText.text}"`).toBeGreaterThanOrEqual(20);

  // Each chart's SVG text, scaled by the size the image is shown at.
  for (const chart of await charts.all()) {
    const src = (await chart.getAttribute('src')) ?? '';
    const svg = await (await page.request.get(`${mcpops.url}${src}`)).text();
    const width = Number(/<svg[^>]*width="(\d+)"/.exec(svg)?.[1]);
    const sizes = [...svg.matchAll(/font-size="([\d.]+)/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(0);
    const shown = await chart.evaluate((img: HTMLImageElement) => img.getBoundingClientRect().width);
    const smallest = (Math.min(...sizes) * shown) / width;
    console.log(`${src}: smallest text ${smallest.toFixed(1)} px as displayed (${shown} px wide)`);
    expect(smallest).toBeGreaterThanOrEqual(20);
  }
  await page.screenshot({ path: test.info().outputPath('wall-1920.png') });
  noErrors();
  await mcpops.stop();
});

test('?rotate=5 shows one team at a time and moves on by itself; a bad value is refused on the page', async ({ page }) => {
  const noErrors = watchForErrors(page);
  await page.setViewportSize({ width: 1920, height: 1080 });
  const mcpops = await startMcpops({ demoServers: 6, pollSeconds: 2 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall?rotate=5`);
  await waitForHydration(page);
  const groups = page.locator('section.tile-group');
  await expect(groups).toHaveCount(3);
  const visible = page.locator('section.tile-group:visible');
  await expect(visible).toHaveCount(1);
  const first = await visible.getAttribute('aria-label');
  expect(first).toMatch(/^Group team: /);
  await expect(page.getByTestId('rotation')).toHaveText(/^group [123] of 3 · next in [1-5] s$/);
  await expect.poll(() => visible.getAttribute('aria-label'), { timeout: 8_000 }).not.toBe(first);
  await expect(visible).toHaveCount(1);
  await page.screenshot({ path: test.info().outputPath('wall-rotating.png') });

  await page.goto(`${mcpops.url}/wall?rotate=1`);
  await waitForHydration(page);
  await expect(page.getByRole('alert').filter({ hasText: 'rotate=1 ignored' })).toContainText('from 5 to 3600');
  await expect(page.locator('section.tile-group:visible')).toHaveCount(1);
  await expect(page.locator('.tile')).toHaveCount(6);
  noErrors();
  await mcpops.stop();
});

test('the site loads light: hashed assets are precompressed and cached for good, pages revalidated', async ({ page }) => {
  const mcpops = await startMcpops({ demoServers: 1 });
  await signInQuietly(page, mcpops);
  const html = await page.request.get(`${mcpops.url}/wall`);
  expect(html.headers()['cache-control']).toBe('no-cache');
  const body = await html.text();
  const wasm = /href="(\/pkg\/mcpops\.[\w-]+\.wasm)"/.exec(body)?.[1];
  const css = /href="(\/pkg\/mcpops\.[\w-]+\.css)"/.exec(body)?.[1];
  expect(wasm, 'the page names its hashed WASM').toBeTruthy();
  expect(css, 'the page names its hashed stylesheet').toBeTruthy();
  for (const [encoding, path] of [['br', wasm], ['gzip', wasm], ['br', css]] as const) {
    const asset = await page.request.get(`${mcpops.url}${path}`, { headers: { 'accept-encoding': encoding } });
    expect(asset.status()).toBe(200);
    expect(asset.headers()['content-encoding'], `${path} as ${encoding}`).toBe(encoding);
    expect(asset.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.headers()['vary'] ?? '').toMatch(/accept-encoding/i);
  }
  await mcpops.stop();
});
