import { test, expect } from '@playwright/test';
import { addUser, signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

/** A moment `hours` from now as a `datetime-local` value in Berlin. */
function berlin(hours: number): string {
  const at = new Date(Date.now() + hours * 3_600_000);
  return at.toLocaleString('sv-SE', { timeZone: 'Europe/Berlin' }).slice(0, 16).replace(' ', 'T');
}

// Who is on call: a schedule made in the browser, an override on top, a gap warned about, the
// wall and the alerts page saying who is on call, and a calendar feed that can be revoked.
test('a schedule puts people on call, an override takes over, gaps warn, and the calendar feed follows', async ({ page }) => {
  const noErrors = watchForErrors(page);
  const mcpops = await startMcpops({ demoServers: 2 });
  addUser(mcpops, 'ann', 'operator');
  addUser(mcpops, 'bob', 'viewer');
  await signInQuietly(page, mcpops);

  await page.goto(`${mcpops.url}/alerts`);
  await waitForHydration(page);
  await page.getByRole('navigation', { name: 'Alert pages' }).getByRole('link', { name: 'On call' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'On call' })).toBeVisible();
  await expect(page.getByText('No on-call schedule yet')).toBeVisible();

  // Refused with the reason next to the field, and what was typed stays.
  const form = page.getByRole('form', { name: 'New schedule' });
  await form.getByLabel('Name').fill('Primary');
  await form.getByLabel('Time zone').fill('Europe/Berlin');
  await form.getByLabel('Rotation').selectOption('weekly');
  await form.getByLabel('First handoff').fill(berlin(-24));
  await form.getByRole('button', { name: 'Create schedule' }).click();
  await expect(form.locator('#field-participants-error')).toContainText('at least one person');
  await expect(form.getByLabel('Name')).toHaveValue('Primary');
  await form.getByLabel('People, in turn').fill('ann, bob');
  await form.getByRole('button', { name: 'Create schedule' }).click();
  const row = page.locator('tr[data-schedule="Primary"]');
  await expect(row).toBeVisible();
  await expect(row.locator('td').nth(1)).toContainText('ann');
  await expect(row.locator('td').nth(2)).toContainText('bob');
  await expect(row).toContainText('covered');

  // A night layer alone leaves the days uncovered: a warning, on the list and the schedule.
  await form.getByLabel('Name').fill('Nights');
  await form.getByLabel('Only from').fill('22:00');
  await form.getByLabel('Until').fill('06:00');
  await form.getByRole('button', { name: 'Create schedule' }).click();
  await expect(page.locator('tr[data-schedule="Nights"]')).toContainText('gap(s) in coverage');
  await page.screenshot({ path: 'test-results/oncall.png', fullPage: true });

  // bob covers the next two hours: an override above the rotation.
  await row.getByRole('link', { name: 'Primary' }).click();
  await expect(page.getByRole('heading', { level: 1, name: /Primary/ })).toBeVisible();
  await waitForHydration(page);
  await expect(page.locator('.oncall-now')).toHaveAttribute('data-user', 'ann');
  const override = page.getByRole('form', { name: 'New override' });
  await override.getByLabel('Who').fill('bob');
  await override.getByLabel('From').fill(berlin(-1));
  await override.getByLabel('Until').fill(berlin(2));
  await override.getByRole('button', { name: 'Add override' }).click();
  await expect(page.locator('.oncall-now')).toHaveAttribute('data-user', 'bob');
  await expect(page.locator('.oncall-next')).toHaveAttribute('data-user', 'ann');
  await expect(page.locator('table.shifts tbody tr').first()).toHaveAttribute('data-user', 'bob');
  await expect(page.locator('ul.overrides li[data-user="bob"]')).toBeVisible();
  await page.screenshot({ path: 'test-results/oncall-schedule.png', fullPage: true });

  // The wall and the alerts page say who is on call, and warn of the gap.
  await page.goto(`${mcpops.url}/wall`);
  await waitForHydration(page);
  const strip = page.getByRole('region', { name: 'On call' });
  await expect(strip.locator('.oncall-line[data-schedule="Primary"] .oncall-now')).toHaveAttribute('data-user', 'bob');
  await expect(strip.locator('.oncall-line[data-schedule="Nights"] .oncall-gap')).toBeVisible();
  await page.screenshot({ path: 'test-results/oncall-wall.png' });
  await page.goto(`${mcpops.url}/alerts`);
  await expect(page.getByRole('region', { name: 'On call' }).locator('.oncall-line')).toHaveCount(2);

  // A calendar link, shown once; revoking it closes the feed.
  await page.goto(`${mcpops.url}/oncall`);
  await waitForHydration(page);
  const feed = page.getByRole('region', { name: 'Calendar feed' });
  await expect(feed).toContainText('You have no feed secret.');
  await feed.getByRole('button', { name: 'New feed secret' }).click();
  const link = feed.locator('code.feed-link[data-schedule="Primary"]');
  await expect(link).toContainText('/calendar/');
  const address = (await link.textContent()) ?? '';
  const calendar = await page.request.get(address);
  expect(calendar.status()).toBe(200);
  expect(calendar.headers()['content-type']).toContain('text/calendar');
  const ics = await calendar.text();
  expect(ics).toContain('SUMMARY:On call: bob (Primary)');
  expect(ics).toContain('SUMMARY:On call: ann (Primary)');
  await feed.getByRole('button', { name: 'Revoke' }).click();
  await expect(feed).toContainText('You have no feed secret.');
  expect((await page.request.get(address)).status()).toBe(401);

  // On a phone, nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/oncall', '/oncall/1']) {
    await page.goto(`${mcpops.url}${path}`);
    await waitForHydration(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, path).toBeLessThanOrEqual(0);
  }
  await page.screenshot({ path: 'test-results/oncall-phone.png', fullPage: true });

  // Deleting takes a tick as well as the button.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${mcpops.url}/oncall`);
  await waitForHydration(page);
  await page.locator('tr[data-schedule="Nights"]').getByRole('link', { name: 'Nights' }).click();
  await expect(page.getByRole('heading', { level: 1, name: /Nights/ })).toBeVisible();
  await waitForHydration(page);
  const remove = page.getByRole('form', { name: 'Delete the schedule' });
  await remove.getByRole('button', { name: 'Delete this schedule' }).click();
  await expect(page.getByRole('heading', { level: 1, name: /Nights/ })).toBeVisible();
  await remove.getByLabel('Yes, delete it').check();
  await remove.getByRole('button', { name: 'Delete this schedule' }).click();
  await expect(page).toHaveURL(/\/oncall$/);
  await expect(page.locator('tr[data-schedule="Nights"]')).toHaveCount(0);
  await expect(page.locator('tr[data-schedule="Primary"]')).toBeVisible();
  noErrors();
  await mcpops.stop();
});
