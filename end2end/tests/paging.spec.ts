import { test, expect } from '@playwright/test';
import { DEMO_ADMIN, freePort, jsonReceiver, signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

/** Today's first minute in UTC, as the schedule form's first handoff. */
function startOfToday(): string {
  return new Date().toISOString().slice(0, 10) + 'T00:00';
}

// The person on call is paged: a schedule, a contact method and a policy made in the browser
// (a policy that would never end is refused first), an outage, the page reaching the on-call,
// the alert saying who was paged and how, and acknowledging it stops the escalation. The
// outage then becomes an incident: roles assigned, a status update told to the team's
// channel, resolved, and its action items in the report.
test('an escalation policy pages the on-call, who acknowledges, declares an incident, keeps the team told and follows up', async ({ page }) => {
  test.setTimeout(120_000);
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

  // The team's channel hears of incidents.
  const team = await jsonReceiver('/team');
  const channel = await page.request.post(`${mcpops.url}/api/channels/create`, {
    form: { name: 'team', kind: 'webhook', url: team.url, min_severity: 'info' },
  });
  expect(channel.status()).toBe(200);
  await page.goto(`${mcpops.url}/alerts`);
  await waitForHydration(page);
  await page.getByRole('button', { name: /^Declare an incident from .* on demo-01$/ }).first().click();
  await expect(page).toHaveURL(/\/incidents\/\d+$/);
  const incidentUrl = page.url();
  await waitForHydration(page);
  await expect(page.locator('[data-role="commander"] dd')).toHaveText(DEMO_ADMIN);
  const roles = page.getByRole('form', { name: 'Assign a role' });
  for (const [role, person] of [['ops_lead', 'bob'], ['comms_lead', 'cy']]) {
    await roles.getByLabel('Role').selectOption(role);
    await roles.getByLabel('Person').fill(person);
    await roles.getByRole('button', { name: 'Assign' }).click();
    await expect(page.locator(`[data-role="${role}"] dd`)).toHaveText(person);
    await expect(roles.getByLabel('Person')).toHaveValue('');
  }
  const timeline = page.getByRole('region', { name: 'Timeline' });
  await expect(timeline.locator('li[data-kind="role"]')).toHaveCount(2);
  await expect(timeline).toContainText('communications lead: cy');

  // A status update without its impact is refused beside the field, and what was typed stays.
  const clock = page.getByTestId('update-timer');
  await expect(clock).toHaveAttribute('data-timer-level', 'normal');
  await expect(clock).toContainText(/due in (29|30):/);
  const update = page.getByRole('form', { name: 'Post a status update' });
  await update.getByLabel('Affected').fill('demo-01 tools');
  await update.getByRole('button', { name: 'Post update' }).click();
  await expect(update.locator('#update-field-impact-error')).toContainText('say what users see');
  await expect(update.getByLabel('Affected')).toHaveValue('demo-01 tools');
  await update.getByLabel('Impact').fill('demo-01 answers nothing; traffic moved to demo-02');
  await update.getByLabel('Next update in (minutes)').fill('15');
  await update.getByRole('button', { name: 'Post update' }).click();
  await expect(page.getByTestId('latest-update')).toContainText('traffic moved to demo-02');
  await expect(update.getByLabel('Affected')).toHaveValue('');
  await expect(update.getByLabel('Next update in (minutes)')).toHaveValue('30');
  await expect(clock).toContainText(/due in (14|15):/);
  await expect(async () => {
    const told = team.messages.find((m) => m.event === 'updated');
    expect(told?.summary).toContain('Affected: demo-01 tools. Impact: demo-01 answers nothing');
  }).toPass({ timeout: 10_000 });
  await page.screenshot({ path: 'test-results/incident-comms.png', fullPage: true });

  // Resolved, then followed up: the action item is in the report and on the incidents page.
  await page.getByRole('button', { name: 'Resolve incident' }).click();
  await expect(page.getByRole('heading', { level: 2, name: 'Resolved' })).toBeVisible();
  await expect(clock).toHaveCount(0);
  const items = page.getByRole('form', { name: 'Add an action item' });
  await items.getByLabel('What needs doing').fill('Alert before demo-01 runs out of workers');
  await items.getByLabel('Owner').fill('bob');
  await items.getByRole('button', { name: 'Add action item' }).click();
  await expect(page.locator('li.action-item')).toContainText('Alert before demo-01 runs out of workers');
  const report = await (await page.request.get(`${incidentUrl.replace('/incidents/', '/reports/incident-')}.md`)).text();
  expect(report).toContain(`- Commander: ${DEMO_ADMIN}\n- Operations lead: bob\n- Communications lead: cy`);
  expect(report).toContain('Affected: demo-01 tools. Impact: demo-01 answers nothing');
  expect(report).toMatch(/\| Alert before demo-01 runs out of workers \| bob \| \d{4}-\d{2}-\d{2} \| open \|/);
  expect(team.messages.map((m) => m.event)).toEqual(expect.arrayContaining(['declared', 'updated', 'resolved']));
  await page.goto(`${mcpops.url}/incidents`);
  await waitForHydration(page);
  const open = page.getByRole('region', { name: 'Open action items' });
  await expect(open).toContainText('Alert before demo-01 runs out of workers');
  await page.screenshot({ path: 'test-results/incidents-action-items.png', fullPage: true });

  // On a phone, the paging page reads without sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${mcpops.url}/oncall/paging`);
  await waitForHydration(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: 'test-results/paging-phone.png', fullPage: true });

  hook.close();
  team.close();
  noErrors();
  await mcpops.stop();
});
