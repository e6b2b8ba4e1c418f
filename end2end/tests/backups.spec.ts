import { test, expect } from '@playwright/test';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

test('an admin backs up, verifies the archive by a restore and sees RPO and RTO met', async ({ page }) => {
  const noErrors = watchForErrors(page);
  // No schedule, so the page starts with nothing and every run below is the admin's.
  const mcpops = await startMcpops({ demoServers: 2, env: { MCPOPS__BACKUP__EVERY_MINUTES: '0' } });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/admin/backups`);
  await waitForHydration(page);
  await expect(page.locator('[data-objective="RPO"]')).toContainText('no good backup yet');
  await expect(page.getByTestId('last-verified')).toContainText('No verified restore recorded');

  await page.getByRole('button', { name: 'Back up now' }).click();
  await expect(page.locator('tr[data-kind="backup"]').first()).toContainText('ok', { timeout: 30_000 });
  await expect(page.locator('[data-objective="RPO"]')).toContainText('met');

  await page.getByRole('button', { name: /^Verify mcpops-/ }).click();
  await expect(page.locator('tr[data-kind="verify"]').first()).toContainText('audit chain intact', { timeout: 30_000 });
  await expect(page.getByTestId('last-verified')).toContainText('rows match the manifest');
  await expect(page.locator('[data-objective="RTO"]')).toContainText('met');
  await page.screenshot({ path: 'test-results/backups.png', fullPage: true });

  // The verified restore feeds the readiness checklist of every target.
  await page.goto(`${mcpops.url}/targets/1`);
  await expect(page.getByText('Backups are tested by a verified restore')).toBeVisible();
  await expect(page.locator('li', { hasText: 'Backups are tested by a verified restore' })).toContainText('verified restore on');
  noErrors();
  await mcpops.stop();
});
