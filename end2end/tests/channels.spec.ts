import { test, expect } from '@playwright/test';
import { freePort, jsonReceiver, startMcpops, signInQuietly, waitForHydration, watchForErrors } from './support/server';

// The paged person's path: a Slack channel added in the browser, an outage, the message's
// Acknowledge button opening the alert, acknowledged there, and the alert listing who was told.
test('a Slack page links to its alert, which is acknowledged there and lists every channel told', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const slack = await jsonReceiver('/services/T0/B0/XSECRETX');
  const port = await freePort();
  const mcpops = await startMcpops({
    demoServers: 2,
    pollSeconds: 1,
    port,
    env: {
      MCPOPS__ALERTS__MIN_FIRING_SECS: '0',
      MCPOPS__ALERTS__GROUP_WAIT_SECS: '2',
      MCPOPS__ALERTS__CONSOLE_URL: `http://127.0.0.1:${port}`,
    },
  });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/alerts/channels`);
  await waitForHydration(page);

  // Each kind shows the fields it needs; a bad routing key is refused next to its field.
  const form = page.getByRole('form', { name: 'Add a channel' });
  await expect(form.getByLabel('Routing key or SMTP password')).toBeHidden();
  await form.getByLabel('Name').fill('team-chat');
  await form.getByLabel('Sends to').selectOption('pagerduty');
  await form.getByLabel('Routing key or SMTP password').fill('hunter2');
  await expect(form.getByLabel('To', { exact: true })).toBeHidden();
  await form.getByRole('button', { name: 'Add channel' }).click();
  await expect(form.locator('#field-secret-error')).toContainText('32 letters and digits');
  await expect(form.getByLabel('Name')).toHaveValue('team-chat');
  await form.getByLabel('Sends to').selectOption('email');
  await expect(form.getByLabel('To', { exact: true })).toBeVisible();
  await page.screenshot({ path: 'test-results/channels-email-form.png', fullPage: true });
  await form.getByLabel('Sends to').selectOption('slack');
  await expect(form.getByLabel('Routing key or SMTP password')).toBeHidden();
  await form.getByLabel('Address').fill(slack.url);
  await form.getByRole('button', { name: 'Add channel' }).click();
  const row = page.locator('tr[data-channel="team-chat"]');
  await expect(row).toContainText('Slack');
  await expect(page.locator('body')).not.toContainText('XSECRETX');

  const injected = await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-01', fault: 'down', on: 'true' },
  });
  expect(injected.status()).toBe(200);
  let button = '';
  await expect(async () => {
    const message = slack.messages.find(
      (m) => m.text?.startsWith('[FIRING]') && JSON.stringify(m.blocks).includes('target_down'),
    );
    const actions = message?.blocks.find((b: any) => b.type === 'actions');
    button = actions?.elements.find((e: any) => e.action_id === 'acknowledge')?.url ?? '';
    expect(button).toContain('#acknowledge');
  }).toPass({ timeout: 20_000 });

  await page.goto(button);
  await waitForHydration(page);
  const acknowledge = page.getByRole('form', { name: 'Acknowledge this alert' });
  await expect(acknowledge).toBeInViewport();
  await acknowledge.getByLabel('What are you doing about it?').fill('restarting demo-01');
  await acknowledge.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(page.locator('[data-state="acknowledged"]').first()).toBeVisible();
  await expect(acknowledge).toBeHidden();
  const told = page.getByTestId('alert-notifications');
  await expect(told).toContainText('firing to team-chat (Slack): delivered');
  // The acknowledgement is sent after the page has heard of it; deliveries are not pushed live.
  await expect(async () => {
    await page.reload();
    await expect(told).toContainText('acknowledged to team-chat (Slack): delivered', { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await page.screenshot({ path: 'test-results/alert-notified.png', fullPage: true });
  expect(slack.messages.some((m) => m.text?.startsWith('[ACKNOWLEDGED]'))).toBe(true);

  slack.close();
  noErrors();
  await mcpops.stop();
});

// A storm: five servers go down together. Slack gets one message naming them all, and the
// alerts page folds them into one group that opens to acknowledge any of them.
test('five servers down at once are one Slack message and one folded group on the alerts page', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const slack = await jsonReceiver('/services/T0/B0/XSECRETX');
  const mcpops = await startMcpops({
    demoServers: 6,
    pollSeconds: 1,
    env: { MCPOPS__ALERTS__MIN_FIRING_SECS: '0', MCPOPS__ALERTS__GROUP_WAIT_SECS: '5' },
  });
  await signInQuietly(page, mcpops);
  const created = await page.request.post(`${mcpops.url}/api/channels/create`, {
    form: { name: 'team-chat', kind: 'slack', url: slack.url, min_severity: 'critical' },
  });
  expect(created.status()).toBe(200);
  const down = ['demo-01', 'demo-02', 'demo-03', 'demo-04', 'demo-05'];
  for (const server of down) {
    const injected = await page.request.post(`${mcpops.url}/api/demo/fault`, {
      form: { server, fault: 'down', on: 'true' },
    });
    expect(injected.status()).toBe(200);
  }

  // One message for the five, once the group's wait is over (an alert acknowledged before
  // then would be left out of it: whoever took it on needs no page).
  await expect(async () => {
    const grouped = slack.messages.filter((m) => m.text?.startsWith('[FIRING]') && m.text.includes('Target down on'));
    expect(grouped).toHaveLength(1);
    expect(grouped[0].text).toContain('demo-01, demo-02, demo-03, demo-04, demo-05 (5 firing)');
  }).toPass({ timeout: 20_000 });

  await page.goto(`${mcpops.url}/alerts`);
  await waitForHydration(page);
  const group = page.locator('details.alert-group[data-rule="target_down"]');
  await expect(group).toContainText('Target down · 5 alerts', { timeout: 20_000 });
  await expect(group.locator('tr.alert-row').first()).toBeHidden();
  await group.locator('summary').click();
  const row = group.locator('tr.alert-row[data-target="demo-03"]');
  await expect(row).toHaveAttribute('data-state', 'firing');
  await page.screenshot({ path: 'test-results/alerts-grouped.png', fullPage: true });
  await row.getByRole('textbox', { name: /Note for acknowledging Target down on demo-03/ }).fill('power cut in rack 3');
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(row).toHaveAttribute('data-state', 'acknowledged');

  slack.close();
  noErrors();
  await mcpops.stop();
});
