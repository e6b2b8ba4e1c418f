import { test, expect } from '@playwright/test';
import { DEMO_ADMIN, freePort, jsonReceiver, signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

/** Today's first minute in UTC, as the schedule form's first handoff. */
function startOfToday(): string {
  return new Date().toISOString().slice(0, 10) + 'T00:00';
}

// The person on call is paged: a schedule, a contact method and a policy made in the browser
// (a policy that would never end is refused first), an outage, the page reaching the on-call,
// the alert saying who was paged and how, and acknowledging it stops the escalation.
test('an escalation policy pages the on-call, the alert shows who was paged, and acknowledging stops it', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const hook = await jsonReceiver('/hooks/XSECRETX');
  const port = await freePort();
  const mcpops = await startMcpops({
    demoServers: 2,
    pollSeconds: 1,
    port,
    env: {
      MCPOPS__ALERTS__MIN_FIRING_SECS: '0',
      MCPOPS__ALERTS__GROUP_WAIT_SECS: '0',
      MCPOPS__ALERTS__CONSOLE_URL: `http://127.0.0.1:${port}`,
    },
  });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/oncall`);
  await waitForHydration(page);
  const schedule = page.getByRole('form', { name: 'New schedule' });
  await schedule.getByLabel('Name').fill('primary');
  await schedule.getByLabel('Rotation').selectOption('daily');
  await schedule.getByLabel('First handoff').fill(startOfToday());
  await schedule.getByLabel('People, in turn').fill(DEMO_ADMIN);
  await schedule.getByRole('button', { name: 'Create schedule' }).click();
  await expect(page.locator('tr[data-schedule="primary"]')).toBeVisible();

  await page.getByRole('navigation', { name: 'Alert pages' }).getByRole('link', { name: 'Paging' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Paging' })).toBeVisible();
  await expect(page.getByTestId('no-policies')).toBeVisible();
  await expect(page.getByTestId('no-contact-methods')).toBeVisible();

  // A contact method: a bad routing key is refused next to its field, then a webhook is kept.
  const contact = page.getByRole('form', { name: 'Add a contact method' });
  await contact.getByLabel('Label').fill('chat');
  await contact.getByLabel('Reach me by').selectOption('pagerduty');
  await contact.getByLabel('Routing key or SMTP password').fill('hunter2');
  await contact.getByRole('button', { name: 'Add contact method' }).click();
  await expect(contact.locator('#contact-field-secret-error')).toContainText('32 letters and digits');
  await expect(contact.getByLabel('Label')).toHaveValue('chat');
  await contact.getByLabel('Reach me by').selectOption('webhook');
  await contact.getByLabel('Address').fill(hook.url);
  await contact.getByRole('button', { name: 'Add contact method' }).click();
  await expect(page.locator('li[data-contact="chat"]')).toContainText('Webhook');
  await expect(page.locator('body')).not.toContainText('XSECRETX');

  // A policy that repeats forever is refused, and what was typed stays.
  const policy = page.getByRole('form', { name: 'Add an escalation policy' });
  await policy.getByLabel('Name').fill('primary pages');
  await policy.getByLabel('Takes alerts of').selectOption('critical');
  await policy.getByLabel('Level 1: page').fill('primary');
  await policy.locator('#policy-wait1').fill('1h');
  await policy.getByLabel('Repeat all levels').fill('-1');
  await policy.getByRole('button', { name: 'Add policy' }).click();
  await expect(policy.locator('#policy-field-repeat-error')).toContainText('never ends');
  await expect(policy.getByLabel('Level 1: page')).toHaveValue('primary');
  await policy.getByLabel('Repeat all levels').fill('2');
  await policy.getByRole('button', { name: 'Add policy' }).click();
  const listed = page.locator('li[data-policy="primary pages"]');
  await expect(listed).toContainText('on call for primary');
  await expect(listed).toContainText('waits 1h');
  await expect(listed).toContainText('repeats 2 times');
  await page.screenshot({ path: 'test-results/paging.png', fullPage: true });

  const injected = await page.request.post(`${mcpops.url}/api/demo/fault`, {
    form: { server: 'demo-01', fault: 'down', on: 'true' },
  });
  expect(injected.status()).toBe(200);
  let link = '';
  await expect(async () => {
    const paged = hook.messages.find((m) => m.summary?.includes('[primary pages, level 1]'));
    link = paged?.link ?? '';
    expect(link).toContain('/alerts/');
  }).toPass({ timeout: 20_000 });

  await page.goto(link);
  await waitForHydration(page);
  const pages = page.getByTestId('alert-pages');
  await expect(pages).toContainText(`level 1: ${DEMO_ADMIN} by chat · Webhook (mcpops JSON), reached`);
  await expect(page.getByTestId('escalation-state')).toHaveText('paging level 1');
  const acknowledge = page.getByRole('form', { name: 'Acknowledge this alert' });
  await acknowledge.getByLabel('What are you doing about it?').fill('looking at demo-01');
  await acknowledge.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(page.locator('[data-state="acknowledged"]').first()).toBeVisible();
  // The escalator stops within a second of the acknowledgement; pages are not pushed live.
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('escalation-state')).toHaveText(`acknowledged by ${DEMO_ADMIN}`, { timeout: 1_000 });
    await expect(pages).toContainText(`acknowledged sent: ${DEMO_ADMIN} by chat`, { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  expect(hook.messages.some((m) => m.event === 'acknowledged' && m.by === DEMO_ADMIN)).toBe(true);
  await page.screenshot({ path: 'test-results/alert-paged.png', fullPage: true });

  // On a phone, the paging page reads without sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${mcpops.url}/oncall/paging`);
  await waitForHydration(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: 'test-results/paging-phone.png', fullPage: true });

  hook.close();
  noErrors();
  await mcpops.stop();
});
