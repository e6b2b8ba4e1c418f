import { test, expect } from '@playwright/test';
import { addUser, PASSWORD, signIn, signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

// The demo seeds 30 days of growing traffic, so the fleet has measured inputs and a trend.
test('a team lead changes a what-if input and sees the instance count and the forecast change', async ({ page, browser }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 3 });
  addUser(mcpops, 'lead', 'viewer');
  await signIn(page, mcpops, 'lead', PASSWORD);
  await page.goto(`${mcpops.url}/capacity?scope=fleet&window=24h`);
  await waitForHydration(page);

  const instances = page.getByTestId('instances');
  const cpuRunsOut = page.getByTestId('cpu-runs-out');
  await expect(instances).toHaveText(/^\d+$/);
  await expect(cpuRunsOut).toHaveText(/runs out on|not on the current trend|already above/);
  const row = page.locator('tr[data-input="peak_rps"]');
  await expect(row).toContainText('measured');
  const before = { instances: await instances.textContent(), cpu: await cpuRunsOut.textContent() };
  const chart = page.locator('img.chart');
  const chartBefore = await chart.getAttribute('src');
  await expect.poll(() => chart.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);

  // Bad input is refused with the reason, and nothing is saved.
  await page.getByLabel('CPU per request (core-seconds)').fill('-3');
  await page.getByRole('button', { name: 'Apply what-if' }).click();
  await expect(page.locator('#what-if-cpu_per_request-error')).toHaveText('a number, 0 or more');
  await expect(page.locator('tr[data-input="cpu_per_request"]')).toContainText('measured');

  // A hundred times the CPU per request: more instances, and the CPU limit is reached sooner.
  const measuredCpu = Number(await page.getByLabel('CPU per request (core-seconds)').getAttribute('placeholder'));
  expect(measuredCpu).toBeGreaterThan(0);
  await page.getByLabel('CPU per request (core-seconds)').fill(String(measuredCpu * 100));
  await page.getByRole('button', { name: 'Apply what-if' }).click();
  await expect(page.locator('tr[data-input="cpu_per_request"]')).toContainText('override by lead');
  await expect(instances).not.toHaveText(before.instances ?? '');
  expect(Number(await instances.textContent())).toBeGreaterThan(Number(before.instances));
  await expect(cpuRunsOut).not.toHaveText(before.cpu ?? '');
  await expect(chart).not.toHaveAttribute('src', chartBefore ?? '');
  await expect.poll(() => chart.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  await page.screenshot({ path: 'test-results/capacity-what-if.png', fullPage: true });

  // The export carries the plan as the lead sees it.
  const csv = await (await page.request.get(`${mcpops.url}/reports/capacity.csv?scope=fleet&window=24h`)).text();
  expect(csv).toContain('"item","value","unit","source"');
  expect(csv).toMatch(/"cpu_per_request","[\d.]+","core-seconds","override by lead/);
  expect(csv).toContain(`"instances","${await instances.textContent()}","instances","computed"`);

  // What-if inputs are the lead's own: the admin still plans on the measurement.
  const other = await browser.newPage();
  await signInQuietly(other, mcpops);
  await other.goto(`${mcpops.url}/capacity?scope=fleet&window=24h`);
  await expect(other.getByTestId('instances')).toHaveText(before.instances ?? '');
  await expect(other.locator('tr[data-input="cpu_per_request"]')).toContainText('measured');
  await other.close();

  // Reset brings the measured plan back.
  await page.getByRole('button', { name: 'Reset to measured' }).click();
  await expect(instances).toHaveText(before.instances ?? '');
  await expect(page.locator('tr[data-input="cpu_per_request"]')).toContainText('measured');
  noErrors();
  await mcpops.stop();
});
