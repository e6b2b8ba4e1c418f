import { test, expect } from '@playwright/test';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors, Running } from './support/server';

let mcpops: Running;
test.beforeAll(async () => {
  mcpops = await startMcpops({ demoServers: 4 });
});
test.beforeEach(async ({ page }) => {
  await signInQuietly(page, mcpops);
});
test.afterAll(async () => {
  await mcpops.stop();
});

test('the navigation reaches every section without reloading the page', async ({ page }) => {
  const noErrors = watchForErrors(page);
  await page.goto(`${mcpops.url}/`);
  await waitForHydration(page);
  await expect(page.locator('.tile')).toHaveCount(4);
  // A full page load would drop this marker; client-side routing (WASM) keeps it.
  await page.evaluate(() => ((window as any).__stayed = true));

  const sections: [string, string][] = [
    ['Fleet', 'Fleet'],
    ['Alerts', 'Alerts'],
    ['Incidents', 'Incidents'],
    ['Runbooks', 'Runbooks'],
    ['Audit', 'Audit'],
    ['Capacity', 'Capacity'],
    ['Admin', 'Admin'],
  ];
  for (const [link, heading] of sections) {
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: link }).click();
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await expect(page).toHaveURL(new RegExp(`/${link.toLowerCase()}$`));
    await expect(
      page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: link, exact: true }),
    ).toHaveAttribute('aria-current', 'page');
  }
  await page.getByRole('link', { name: 'Wall', exact: true }).click();
  await expect(page.locator('.tile')).toHaveCount(4);
  expect(await page.evaluate(() => (window as any).__stayed)).toBe(true);
  noErrors();
});

test('an unknown path shows a not-found page with status 404', async ({ page }) => {
  const response = await page.goto(`${mcpops.url}/no/such/page`);
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
});

test('fault injection from the admin page takes effect on the demo server', async ({ page }) => {
  const noErrors = watchForErrors(page);
  await page.goto(`${mcpops.url}/admin`);
  await waitForHydration(page);
  const inject = page.getByRole('button', { name: 'Inject Not ready on demo-02' });
  await inject.click();
  await expect(page.getByRole('button', { name: 'Clear Not ready on demo-02' })).toHaveAttribute('aria-pressed', 'true');
  const url = await page.locator('tr[data-server="demo-02"] small').textContent();
  const ready = await fetch(`${url}/health/ready`);
  expect(ready.status).toBe(503);
  await page.getByRole('button', { name: 'Clear Not ready on demo-02' }).click();
  await expect(page.getByRole('button', { name: 'Inject Not ready on demo-02' })).toBeVisible();
  expect((await fetch(`${url}/health/ready`)).status).toBe(200);
  noErrors();
});
