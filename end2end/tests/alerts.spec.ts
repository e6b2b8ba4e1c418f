import { test, expect } from '@playwright/test';
import { addUser, PASSWORD, signIn, signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

test('an operator acknowledges a firing alert and the wall shows it at once, without a reload', async ({ browser }) => {
  const mcpops = await startMcpops({
    demoServers: 3,
    pollSeconds: 1,
    env: { MCPOPS__ALERTS__MIN_FIRING_SECS: '0' },
  });
  addUser(mcpops, 'ann', 'operator');

  const wallContext = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const wall = await wallContext.newPage();
  const wallErrors = watchForErrors(wall);
  await signInQuietly(wall, mcpops);
  await wall.goto(`${mcpops.url}/wall`);
  await waitForHydration(wall);
  await expect(wall.locator('.wall-alerts')).toContainText('No firing alerts');
  await wall.evaluate(() => ((window as any).__stayed = true));
  // The room opts in to the alarm; the choice outlives a reload.
  await wall.getByRole('button', { name: 'Alarm off' }).click();
  await expect(wall.getByRole('button', { name: 'Alarm on' })).toHaveAttribute('aria-pressed', 'true');
  await wall.reload();
  await waitForHydration(wall);
  await expect(wall.getByRole('button', { name: 'Alarm on' })).toBeVisible();
  await wall.evaluate(() => ((window as any).__stayed = true));

  const injected = await wall.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-02', fault: 'down', on: 'true' },
  });
  expect(injected.status()).toBe(200);
  const firing = wall.locator('.wall-alert[data-state="firing"]', { hasText: 'demo-02' });
  await expect(firing).toBeVisible({ timeout: 10_000 });
  await expect(firing).toContainText('Target down');
  // A new critical alert flashes the panel while the alarm is on.
  await expect(wall.locator('.wall-alerts')).toHaveClass(/alarm-flash/);
  await expect(wall.getByRole('button', { name: 'Alarm on' })).toHaveAttribute('data-raised', '1');
  await wall.screenshot({ path: 'test-results/wall-firing-alert.png' });
  await expect(wall.locator('.wall-alerts')).not.toHaveClass(/alarm-flash/, { timeout: 10_000 });

  const operatorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await operatorContext.newPage();
  const pageErrors = watchForErrors(page);
  await signIn(page, mcpops, 'ann', PASSWORD);
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Alerts' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Alerts' })).toBeVisible();
  await waitForHydration(page);
  const row = page.locator('tr.alert-row[data-target="demo-02"]');
  await expect(row).toHaveAttribute('data-state', 'firing');
  await expect(row.getByRole('link', { name: /Runbook: connection-errors/ })).toBeVisible();
  await row.getByRole('textbox', { name: /Note for acknowledging Target down on demo-02/ }).fill('restarting the pod');
  await page.screenshot({ path: 'test-results/alerts-firing.png', fullPage: true });
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(row).toHaveAttribute('data-state', 'acknowledged');
  await expect(row).toContainText('acknowledged by ann: restarting the pod');

  // The wall heard about it over its open event stream.
  const acknowledged = wall.locator('.wall-alert[data-state="acknowledged"]', { hasText: 'demo-02' });
  await expect(acknowledged).toContainText('acknowledged by ann', { timeout: 5_000 });
  expect(await wall.evaluate(() => (window as any).__stayed)).toBe(true);
  await wall.screenshot({ path: 'test-results/wall-acknowledged-alert.png' });

  // The alert's own page has its history.
  await row.getByRole('link', { name: 'Target down' }).click();
  await expect(page.locator('ol.timeline li')).toHaveCount(3);
  await expect(page.locator('ol.timeline')).toContainText('firing → acknowledged by ann');

  await wall.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-02', fault: 'down', on: 'false' },
  });
  await expect(wall.locator('.wall-alerts')).toContainText('No firing alerts', { timeout: 10_000 });
  wallErrors();
  pageErrors();
  await mcpops.stop();
});

test('baselines refuse bad values next to the field, and a learned baseline is shown before saving', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 2, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/alerts/rules`);
  await waitForHydration(page);
  const form = page.getByRole('form', { name: 'Set baselines' });
  await form.getByLabel('p95 (ms)').fill('-3');
  await form.getByLabel('Factor').fill('1');
  await form.getByRole('button', { name: 'Save baselines' }).click();
  await expect(form.locator('#field-p95_ms-error')).toHaveText('must be greater than 0');
  await expect(form.locator('#field-factor-error')).toContainText('must be greater than 1');
  await form.getByLabel('p95 (ms)').fill('400');
  await form.getByLabel('Factor').fill('2');
  await form.getByRole('button', { name: 'Save baselines' }).click();
  await expect(page.locator('tr[data-scope="fleet"]')).toContainText('400');

  // Learn demo-01's baseline once the demo has polled enough: numbers first, saved only on request.
  const learn = page.getByRole('form', { name: 'Learn a baseline' });
  await expect(async () => {
    await learn.getByRole('button', { name: 'Learn from the last 7 days' }).click();
    await expect(page.locator('[data-learned-hours]')).toContainText('Learned from', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  const proposal = page.getByRole('form', { name: 'Save the learned baseline' });
  await expect(proposal.getByLabel('p50 (ms)')).not.toHaveValue('');
  await page.screenshot({ path: 'test-results/rules-learned.png', fullPage: true });
  await proposal.getByRole('button', { name: 'Save baselines' }).click();
  await expect(page.locator('tr[data-scope^="target:"]')).toBeVisible();

  // The silences and channels pages, as an admin sees them.
  await page.goto(`${mcpops.url}/alerts/silences`);
  await waitForHydration(page);
  const silence = page.getByRole('form', { name: 'New silence' });
  await silence.getByLabel('Tag').fill('demo');
  await silence.getByLabel('Reason').fill('weekly database maintenance');
  await silence.getByLabel('Days', { exact: true }).fill('Sat, Sun');
  await silence.getByLabel('From (HH:MM)').fill('02:00');
  await silence.getByLabel('For (min)', { exact: true }).fill('120');
  await silence.getByRole('button', { name: 'Silence' }).click();
  await expect(page.locator('table.silences')).toContainText('every Sat, Sun at 02:00 UTC for 120 min');
  await page.screenshot({ path: 'test-results/silences.png', fullPage: true });

  await page.goto(`${mcpops.url}/alerts/channels`);
  await waitForHydration(page);
  const channel = page.getByRole('form', { name: 'Add a channel' });
  await channel.getByLabel('Name').fill('on-call');
  await channel.getByLabel('Address').fill('javascript:alert(1)');
  await channel.getByRole('button', { name: 'Add channel' }).click();
  await expect(channel.locator('#field-url-error')).toContainText('http or https');
  await channel.getByLabel('Address').fill('http://127.0.0.1:9/hooks/T0/SECRET');
  await channel.getByRole('button', { name: 'Add channel' }).click();
  const row = page.locator('tr[data-channel="on-call"]');
  await expect(row).toContainText('http://127.0.0.1:9/…');
  await expect(page.locator('body')).not.toContainText('SECRET');
  await row.getByRole('button', { name: 'Send a test notice to on-call' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'did not accept the test notice' })).toBeVisible();
  await expect(row).toContainText('last delivery failed');
  await page.screenshot({ path: 'test-results/channels.png', fullPage: true });
  noErrors();
  await mcpops.stop();
});

test('a deploy marked on the server page is reviewed before and after, and drawn on its charts', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 2, pollSeconds: 1 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  // A few polls first, so the deploy has a "before" to be reviewed against.
  const polled = page.locator('.tile[data-target="demo-01"]').getByRole('img', { name: 'p95 latency, last polls' }).locator('polyline');
  await expect
    .poll(async () => ((await polled.getAttribute('points')) ?? '').split(' ').filter(Boolean).length, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(2);
  await page.getByRole('link', { name: 'demo-01' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'demo-01' })).toBeVisible();
  await waitForHydration(page);
  const deploys = page.getByRole('region', { name: 'Deploys' });
  await expect(deploys).toContainText('No deploys in the last 7 days');
  const form = deploys.getByRole('form', { name: 'Mark a deploy' });
  await form.getByRole('button', { name: 'Mark a deploy now' }).click();
  // The version is required; the browser says so before anything is sent.
  const missing = await form.getByLabel('Version deployed').evaluate((el) => (el as HTMLInputElement).validity.valueMissing);
  expect(missing).toBe(true);
  await form.getByLabel('Version deployed').fill('2.0.0');
  await form.getByLabel('Deploy note').fill('canary in eu');
  await form.getByRole('button', { name: 'Mark a deploy now' }).click();
  const row = deploys.locator('tr[data-version="2.0.0"]');
  await expect(row).toContainText('canary in eu');
  await expect(row.locator('td')).toHaveCount(5);
  // Charts are cached per 5 s tick; the next one draws the marker.
  const chartSrc = await page.locator('img.chart').first().getAttribute('src');
  await expect
    .poll(async () => (await page.request.get(`${mcpops.url}${chartSrc}`)).text(), { timeout: 15_000 })
    .toContain('deploy 2.0.0');
  await page.reload();
  const readiness = page.getByRole('region', { name: 'Operational readiness' });
  await expect(readiness.locator('li[data-item="monitoring"]')).toHaveAttribute('data-state', 'met');
  await readiness.getByRole('button', { name: 'Tick: An on-call rota owns the service' }).click();
  await expect(readiness.locator('li[data-item="on_call"]')).toHaveAttribute('data-state', 'met');
  await expect(readiness.locator('li[data-item="on_call"]')).toContainText('demo-admin at');
  await page.screenshot({ path: 'test-results/server-deploys.png', fullPage: true });
  noErrors();
  await mcpops.stop();
});
