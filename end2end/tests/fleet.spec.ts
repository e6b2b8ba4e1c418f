import { test, expect, Page } from '@playwright/test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

async function openFleet(page: Page, url: string) {
  await page.goto(`${url}/fleet`);
  await waitForHydration(page);
}

test('a bad URL is refused next to its field, then a good target survives a restart', async ({ page }) => {
  const noErrors = watchForErrors(page);
  let mcpops = await startMcpops({ demoServers: 2 });
  await signInQuietly(page, mcpops);
  await openFleet(page, mcpops.url);
  const form = page.getByRole('form', { name: 'Add a target' });

  await form.getByLabel('Name').fill('payments-mcp');
  await form.getByLabel('Base URL').fill('localhost:9000');
  await form.getByLabel('Interval (s)').fill('15');
  await form.getByLabel('Tags').fill('prod, team:payments');
  await form.getByRole('button', { name: 'Add target' }).click();

  await expect(form.locator('#field-base_url-error')).toContainText('http');
  await expect(form.getByLabel('Base URL')).toHaveAttribute('aria-invalid', 'true');
  // Nothing was saved, and nothing typed was lost.
  await expect(page.locator('tr[data-target="payments-mcp"]')).toHaveCount(0);
  await expect(form.getByLabel('Name')).toHaveValue('payments-mcp');

  await form.getByLabel('Base URL').fill('http://127.0.0.1:9000');
  await form.getByRole('button', { name: 'Add target' }).click();
  const row = page.locator('tr[data-target="payments-mcp"]');
  await expect(row).toBeVisible();
  await expect(row).toContainText('15 s');
  await expect(row).toContainText('team:payments');
  await expect(form.getByLabel('Name')).toHaveValue('');
  await expect(form.locator('#field-base_url-error')).toBeEmpty();

  await mcpops.stop();
  mcpops = await startMcpops({ demoServers: 2, dataDir: mcpops.dataDir });
  await openFleet(page, mcpops.url);
  await expect(page.locator('tr[data-target="payments-mcp"]')).toContainText('http://127.0.0.1:9000');
  await expect(page.locator('tr[data-target]')).toHaveCount(3);
  noErrors();
  await mcpops.stop();
});

test('a target is edited and removed; demo targets are not editable', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 1 });
  await signInQuietly(page, mcpops);
  await openFleet(page, mcpops.url);
  const form = page.getByRole('form', { name: 'Add a target' });
  await form.getByLabel('Name').fill('edit-me');
  // Loopback only: nothing listens on the discard port, so its polls are refused at once.
  await form.getByLabel('Base URL').fill('https://127.0.0.1:9');
  await form.getByRole('button', { name: 'Add target' }).click();
  const row = page.locator('tr[data-target="edit-me"]');
  await expect(row).toBeVisible();
  await expect(page.locator('tr[data-target="demo-1"], tr[data-target="demo-01"]').getByRole('link', { name: 'Edit' })).toHaveCount(0);

  await row.getByRole('link', { name: 'Edit' }).click();
  const edit = page.getByRole('form', { name: 'Edit target' });
  await edit.getByLabel('Interval (s)').fill('99999');
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(edit.locator('#field-interval_secs-error')).toContainText('between 1 and 3600');
  await edit.getByLabel('Name').fill('edited');
  await edit.getByLabel('Interval (s)').fill('60');
  // A server without /metrics: its admin switches the probe off.
  await edit.getByText('Probe settings').click();
  await edit.getByLabel('Metrics probe').selectOption('off');
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/fleet$/);
  const edited = page.locator('tr[data-target="edited"]');
  await expect(edited).toContainText('60 s');
  await edited.getByRole('link', { name: 'Edit' }).click();
  await expect(page.getByRole('form', { name: 'Edit target' }).getByLabel('Metrics probe')).toHaveValue('off');
  await expect(page.getByRole('form', { name: 'Edit target' }).getByLabel('Liveness probe')).toHaveValue('auto');
  await page.goto(`${mcpops.url}/fleet`);
  await waitForHydration(page);

  await edited.getByRole('button', { name: 'Remove edited' }).click();
  await expect(page.locator('tr[data-target="edited"]')).toHaveCount(0);
  noErrors();
  await mcpops.stop();
});

test('targets from a file are listed with their file, and a bad file is reported there', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const dir = mkdtempSync(join(tmpdir(), 'mcpops-files-'));
  const file = join(dir, 'targets.toml');
  writeFileSync(file, '[[target]]\nname = "from-file"\nurl = "http://127.0.0.1:9"\ntags = ["prod"]\n');
  const mcpops = await startMcpops({
    demoServers: 1,
    env: { MCPOPS__TARGETS__FILES: `["${file}"]`, MCPOPS__TARGETS__RELOAD_SECS: '1' },
  });
  await signInQuietly(page, mcpops);
  await openFleet(page, mcpops.url);
  const row = page.locator('tr[data-target="from-file"]');
  await expect(row).toContainText('file');
  await expect(row).toContainText(file);
  await expect(row.getByRole('link', { name: 'Edit' })).toHaveCount(0);
  const sources = page.getByRole('region', { name: 'Target files' });
  await expect(sources.locator(`tr[data-source="${file}"]`)).toContainText('ok');

  writeFileSync(file, '[[target]]\nname = "from-file"\nurl = \n');
  // The file is read again within reload_secs; the page shows it on a reload.
  await expect(async () => {
    await page.reload();
    await expect(sources.locator(`tr[data-source="${file}"]`)).toContainText('line 3', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.locator('tr[data-target="from-file"]')).toBeVisible();
  await page.screenshot({ path: 'test-results/fleet-target-files.png', fullPage: true });
  noErrors();
  await mcpops.stop();
});

test('probe settings are checked field by field, and a saved header is never shown again', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 1 });
  await signInQuietly(page, mcpops);
  await openFleet(page, mcpops.url);
  const form = page.getByRole('form', { name: 'Add a target' });
  await form.getByLabel('Name', { exact: true }).fill('private-mcp');
  await form.getByLabel('Base URL').fill('http://127.0.0.1:9');
  await form.getByText('Probe settings').click();
  await form.getByLabel('Timeout (ms)').fill('5');
  await form.getByLabel('Metrics path').fill('admin/metrics');
  await form.getByLabel('Secret headers').fill('Authorization: Bearer s3cr3t-value');
  await form.getByRole('button', { name: 'Add target' }).click();
  await expect(form.locator('[id="field-probe[timeout_ms]-error"]')).toContainText('100 to 60000');
  await expect(form.locator('[id="field-probe[metrics_path]-error"]')).toContainText('starting with /');
  await form.getByLabel('Timeout (ms)').fill('2000');
  await form.getByLabel('Metrics path').fill('/admin/metrics');
  await form.getByRole('button', { name: 'Add target' }).click();
  await expect(page.locator('tr[data-target="private-mcp"]')).toBeVisible();

  await page.locator('tr[data-target="private-mcp"]').getByRole('link', { name: 'Edit' }).click();
  await waitForHydration(page);
  const edit = page.getByRole('form', { name: 'Edit target' });
  await expect(edit.getByLabel('Metrics path')).toHaveValue('/admin/metrics');
  await expect(edit.getByLabel('Timeout (ms)')).toHaveValue('2000');
  await expect(edit).toContainText('saved: Authorization (values hidden)');
  await expect(edit.getByLabel('Secret headers')).toHaveValue('');
  expect(await page.content()).not.toContain('s3cr3t-value');
  await page.screenshot({ path: 'test-results/fleet-probe-settings.png', fullPage: true });
  noErrors();
  await mcpops.stop();
});
