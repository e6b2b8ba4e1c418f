import { test, expect } from '@playwright/test';
import { DEMO_ADMIN, startMcpops } from './support/server';

test('the fleet page is rendered on the server when JavaScript is off', async ({ page }) => {
  const mcpops = await startMcpops({ demoServers: 3 });
  // Without JavaScript, the sign-in form posts and the server answers with a redirect.
  await page.goto(`${mcpops.url}/fleet`);
  await expect(page).toHaveURL(/\/login\?next=%2Ffleet$/);
  await page.getByLabel('Username').fill(DEMO_ADMIN);
  await page.getByLabel('Password').fill(mcpops.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/fleet$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Fleet' })).toBeVisible();
  await expect(page.locator('tr[data-target]')).toHaveCount(3);
  await expect(page.locator('tr[data-target="demo-01"] .status')).toHaveText(/unknown|up/);
  await expect(page.getByRole('form', { name: 'Add a target' })).toBeVisible();
  await page.goto(`${mcpops.url}/wall`);
  await expect(page.locator('.tile')).toHaveCount(3);
  await mcpops.stop();
});
