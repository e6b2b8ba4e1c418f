import { test, expect } from '@playwright/test';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

// The guide's pre-production checklist across the fleet: proven, ticked, missing, by server and by tag.
test('the readiness matrix shows each server against the guide checklist, and a channel makes alerts pass', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 3, pollSeconds: 1 });
  await signInQuietly(page, mcpops);

  // The matrix is read when the page opens: let the first polls land first.
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  for (const name of ['demo-01', 'demo-02', 'demo-03']) {
    await expect(page.locator(`.tile[data-target="${name}"]`)).toHaveAttribute('data-state', 'up', { timeout: 15_000 });
  }

  // A tick on a server page shows in the matrix as ticked by hand.
  await page.goto(`${mcpops.url}/targets/1#readiness`);
  await waitForHydration(page);
  const checklist = page.getByRole('region', { name: 'Operational readiness' });
  await checklist.getByRole('button', { name: 'Tick: An on-call rota owns the service' }).click();
  await expect(checklist.locator('li[data-item="on_call"]')).toHaveAttribute('data-state', 'met');

  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Readiness' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Readiness' })).toBeVisible();
  await waitForHydration(page);
  const matrix = page.locator('table.readiness-matrix');
  await expect(matrix.locator('thead th')).toHaveText([
    'Server', 'Monitoring', 'Alerts', 'Logging', 'Backups', 'Runbooks', 'On-call', 'Incident plan', 'Capacity',
    'Health', 'MCP', 'Security',
  ]);
  const first = matrix.locator('tr[data-target="1"]');
  await expect(first.locator('td[data-item="on_call"]')).toHaveClass(/ticked/);
  await expect(first.locator('td[data-item="mcp_probe"]')).toHaveClass(/proven/);
  // No channel receives the alerts yet: alerts and the incident plan are missing, and say why.
  await expect(first.locator('td[data-item="alerts"]')).toHaveClass(/missing/);
  await expect(first.locator('td[data-item="alerts"]')).toHaveAttribute('title', /no channel receives/);
  await expect(first.locator('td[data-item="incident_response"]')).toHaveClass(/missing/);
  await expect(matrix.locator('tfoot td').nth(5)).toHaveText('1 of 3');
  // The page itself never scrolls sideways; a matrix wider than the screen scrolls in its box.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: 'test-results/readiness.png', fullPage: true });

  // A channel for critical alerts of every target: alerts and the incident plan pass.
  await page.goto(`${mcpops.url}/alerts/channels`);
  await waitForHydration(page);
  const channel = page.getByRole('form', { name: 'Add a channel' });
  await channel.getByLabel('Name').fill('ops-pager');
  await channel.getByLabel('Address').fill('http://127.0.0.1:9/hooks/pager');
  await channel.getByRole('button', { name: 'Add channel' }).click();
  await expect(page.locator('tr[data-channel="ops-pager"]')).toBeVisible();
  await page.goto(`${mcpops.url}/readiness`);
  await waitForHydration(page);
  await expect(first.locator('td[data-item="alerts"]')).toHaveClass(/proven/);
  await expect(first.locator('td[data-item="alerts"]')).toHaveAttribute('title', /ops-pager/);
  await expect(first.locator('td[data-item="incident_response"]')).toHaveClass(/proven/);

  // One row per team: counts of servers meeting each item.
  await page.getByLabel('Rows').selectOption('team');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/by=team/);
  const teams = matrix.locator('tbody tr');
  await expect(teams).toHaveCount(3);
  await expect(teams.first().locator('th')).toHaveText(/^team: \w+ \(1\)$/);
  await expect(matrix.locator('tbody td.count').first()).toBeVisible();
  await page.screenshot({ path: 'test-results/readiness-by-team.png', fullPage: true });
  noErrors();
  await mcpops.stop();
});
