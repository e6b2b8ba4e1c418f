import { test, expect } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

/** A port the system hands out, free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => done(port));
    });
  });
}

/** The reference TypeScript server, bound to loopback by the tests' preload. */
async function serverEverything(): Promise<{ url: string; child: ChildProcess }> {
  const entry = process.env.MCPOPS_TEST_EVERYTHING;
  if (!entry) throw new Error('MCPOPS_TEST_EVERYTHING is not set: run scripts/test.sh');
  const port = await freePort();
  const preload = resolve(__dirname, '..', '..', 'tests', 'interop', 'loopback.cjs');
  const child = spawn('node', ['-r', preload, entry, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  await expect
    .poll(async () => (await fetch(`${url}/mcp`, { method: 'DELETE' }).catch(() => null)) !== null, {
      timeout: 30_000,
    })
    .toBe(true);
  return { url, child };
}

test('a server that speaks only MCP shows up, with what it offers and probe charts', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const everything = await serverEverything();
  const mcpops = await startMcpops({ demoServers: 1, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/fleet`);
  await waitForHydration(page);
  const form = page.getByRole('form', { name: 'Add a target' });
  await form.getByLabel('Name', { exact: true }).fill('everything');
  await form.getByLabel('Base URL').fill(everything.url);
  await form.getByLabel('Interval (s)').fill('1');
  await form.getByRole('button', { name: 'Add target' }).click();
  const row = page.locator('tr[data-target="everything"]');
  await expect(row).toBeVisible();

  // The Fleet list says what it offers once it has been polled.
  await expect
    .poll(
      async () => {
        await page.reload();
        return row.locator('.offer[data-probe="mcp"]').getAttribute('data-offer');
      },
      { timeout: 15_000 },
    )
    .toBe('offered');
  await expect(row.locator('.offer[data-probe="live"]')).toHaveAttribute('data-offer', 'not-offered');
  await expect(row.locator('.offer[data-probe="metrics"]')).toHaveAttribute('data-offer', 'not-offered');
  await expect(row).toContainText('up');

  const targets = await (await page.request.post(`${mcpops.url}/api/targets/list`)).json();
  const id = targets.find((t: { name: string }) => t.name === 'everything').id;
  await page.goto(`${mcpops.url}/targets/${id}`);
  await waitForHydration(page);
  await expect(page.locator('.server-head [data-state]')).toHaveAttribute('data-state', 'up');
  const offers = page.getByRole('region', { name: 'What the server offers' });
  await expect(offers.locator('[data-probe="mcp"]')).toContainText('offered');
  await expect(offers.locator('[data-probe="live"]')).toContainText('not offered');
  await expect(offers).toContainText('the MCP answer is its liveness');
  await expect(page.getByRole('region', { name: 'Readiness', exact: true })).toContainText('no readiness endpoint');
  const readiness = page.getByRole('region', { name: 'Operational readiness' });
  await expect(readiness.locator('li[data-item="monitoring"]')).toHaveAttribute('data-state', 'not-offered');
  await expect(readiness.locator('li[data-item="monitoring"]')).toContainText('Add a Prometheus endpoint');

  // The latency chart draws the probe's own quantiles: the server exports none.
  const chart = page.locator('img.chart[alt="Latency p50, p95 and p99"]');
  await expect(chart).toBeVisible();
  const svg = await (await page.request.get(new URL(await chart.getAttribute('src') ?? '', mcpops.url).href)).text();
  expect(svg).toContain('MCP probe p95, measured by mcpops');
  await page.screenshot({ path: 'test-results/mcp-only-server.png', fullPage: true });

  // An admin adds a synthetic call of its read-only echo tool: bad JSON is refused next to
  // the field, then the call is made and passes.
  const synthetic = page.getByRole('region', { name: 'Synthetic calls' });
  await synthetic.getByText('Add a synthetic call').click();
  const add = synthetic.getByRole('form', { name: 'Add a synthetic call' });
  await add.getByLabel('Tool').selectOption('echo');
  await add.getByLabel('Arguments (JSON)').fill('{"message": ');
  await add.getByRole('button', { name: 'Add synthetic call' }).click();
  await expect(add.locator('#check-arguments-error')).toContainText('not valid JSON');
  await add.getByLabel('Arguments (JSON)').fill('{"message": "from the wall"}');
  await add.getByLabel("The answer's text contains").fill('Echo: from the wall');
  await add.getByRole('button', { name: 'Add synthetic call' }).click();
  const echo = synthetic.locator('tbody tr').filter({ hasText: 'echo' });
  await expect(echo).toBeVisible();
  await expect
    .poll(
      async () => {
        await page.reload();
        return echo.getAttribute('data-state');
      },
      { timeout: 20_000 },
    )
    .toBe('passing');
  await expect(echo.locator('svg.sparkline')).toBeVisible();
  await page.screenshot({ path: 'test-results/mcp-only-synthetic-call.png', fullPage: true });

  // The demo server names its tools in its metrics: its page has the tool table, sortable.
  const demo = targets.find((t: { name: string }) => t.name.startsWith('demo-')).id;
  const tools = page.getByRole('region', { name: 'Signals by tool' });
  await expect
    .poll(
      async () => {
        await page.goto(`${mcpops.url}/targets/${demo}`);
        return tools.locator('tbody tr').count();
      },
      { timeout: 30_000 },
    )
    .toBeGreaterThan(0);
  await waitForHydration(page);
  await tools.getByRole('button', { name: 'Calls/s' }).click();
  await expect(tools.locator('th[aria-sort="descending"]')).toContainText('Calls/s');
  const calls = await tools.locator('tbody tr td:nth-child(2)').allTextContents();
  const sorted = [...calls].sort((a, b) => Number(b) - Number(a));
  expect(calls).toEqual(sorted);
  await page.screenshot({ path: 'test-results/demo-server-tools.png', fullPage: true });
  noErrors();
  await mcpops.stop();
  everything.child.kill();
});
