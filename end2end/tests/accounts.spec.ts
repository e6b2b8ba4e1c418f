import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import {
  addUser,
  PASSWORD,
  Running,
  signIn,
  signInQuietly,
  startMcpops,
  waitForHydration,
  watchForErrors,
} from './support/server';

let mcpops: Running;
test.beforeAll(async () => {
  mcpops = await startMcpops({ demoServers: 2 });
  for (const role of ['viewer', 'operator', 'auditor', 'admin']) addUser(mcpops, `${role}-e2e`, role);
});
test.afterAll(async () => {
  await mcpops.stop();
});

const sections = (page: import('@playwright/test').Page) =>
  page.getByRole('navigation', { name: 'Sections' }).getByRole('link');

test('an anonymous visitor is sent to sign in, then back where they were going', async ({ page }) => {
  const noErrors = watchForErrors(page);
  await page.goto(`${mcpops.url}/fleet`);
  await expect(page).toHaveURL(/\/login\?next=%2Ffleet$/);
  await waitForHydration(page);
  await page.getByLabel('Username').fill('viewer-e2e');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('p.error-note')).toHaveText('wrong username or password');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/fleet$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Fleet' })).toBeVisible();
  await page.screenshot({ path: 'test-results/fleet-as-viewer.png' });
  noErrors();
});

test('each role sees what it can use, and the server refuses the rest', async ({ page }) => {
  const expectations: Record<string, { audit: boolean; faults: boolean; users: boolean }> = {
    viewer: { audit: false, faults: false, users: false },
    operator: { audit: false, faults: true, users: false },
    auditor: { audit: true, faults: false, users: false },
    admin: { audit: true, faults: true, users: true },
  };
  for (const [role, can] of Object.entries(expectations)) {
    await page.context().clearCookies();
    await signIn(page, mcpops, `${role}-e2e`, PASSWORD);
    await expect(page.locator('.whoami')).toContainText(`${role}-e2e · ${role}`);
    await expect(sections(page).filter({ hasText: 'Audit' })).toHaveCount(can.audit ? 1 : 0);

    await sections(page).filter({ hasText: 'Admin' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Admin' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Inject Down on demo-01' })).toHaveCount(can.faults ? 1 : 0);
    await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(can.users ? 1 : 0);

    const audit = await page.request.get(`${mcpops.url}/audit`, { maxRedirects: 0 });
    expect(audit.status(), `${role} on /audit`).toBe(can.audit ? 200 : 403);
    const users = await page.request.post(`${mcpops.url}/api/users/list`, { form: {} });
    expect(users.status(), `${role} listing users`).toBe(can.users ? 200 : 403);
  }
});

test('an auditor finds an action by full-text search and exports it to CSV', async ({ page, browser }) => {
  const admin = await browser.newPage();
  await signInQuietly(admin, mcpops, 'admin-e2e', PASSWORD);
  const added = await admin.request.post(`${mcpops.url}/api/targets/add`, {
    form: { name: 'needle-42', base_url: 'http://127.0.0.1:9', interval_secs: '30', tags: 'haystack' },
  });
  expect(added.status()).toBe(200);
  await admin.close();

  const noErrors = watchForErrors(page);
  await signIn(page, mcpops, 'auditor-e2e', PASSWORD);
  await sections(page).filter({ hasText: 'Audit' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  await waitForHydration(page);
  await page.getByLabel('Search resource and details').fill('needle');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=needle/);
  const rows = page.locator('table.audit tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('needle-42');
  await expect(rows.first()).toContainText('admin-e2e');
  await expect(rows.first()).toContainText('target · create');
  await page.screenshot({ path: 'test-results/audit-search.png', fullPage: true });

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^mcpops-audit-.*\.csv$/);
  const csv = readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  expect(lines[0]).toContain('"timestamp_utc","event_type","user","action","resource","result","ip_address"');
  expect(lines.filter((l) => l.includes('needle-42'))).toHaveLength(1);
  // The page followed the stream: rows and size, then done.
  await expect(page.locator('.audit-tools [role="status"]')).toContainText(/Exported [\d.]+ MB to mcpops-audit-/);

  await rows.first().getByRole('link').click();
  await expect(page.getByRole('status')).toContainText('Chain: intact');
  noErrors();
});

test('a kiosk token shows the wall without a login and stops working once revoked', async ({ page, browser }) => {
  const noErrors = watchForErrors(page);
  await signIn(page, mcpops, 'admin-e2e', PASSWORD);
  await page.goto(`${mcpops.url}/admin/tokens`);
  await waitForHydration(page);
  const form = page.getByRole('form', { name: 'Create a token' });
  await form.getByLabel('Kind').selectOption('kiosk');
  await form.getByLabel('Name').fill('lobby screen');
  await form.getByRole('button', { name: 'Create token' }).click();
  const link = page.locator('[data-secret="kiosk-link"]');
  await expect(link).toBeVisible();
  await page.screenshot({ path: 'test-results/tokens.png', fullPage: true });
  const kioskPath = (await link.getAttribute('href')) ?? '';

  const kiosk = await browser.newPage();
  const opened = await kiosk.goto(`${mcpops.url}${kioskPath}`);
  expect(opened?.status()).toBe(200);
  await expect(kiosk.locator('.tile[data-target="demo-01"]')).toBeVisible();
  await expect(kiosk.getByRole('navigation', { name: 'Sections' })).toHaveCount(0);
  await kiosk.screenshot({ path: 'test-results/kiosk-wall.png' });
  // The kiosk can read the wall only.
  expect((await kiosk.goto(`${mcpops.url}/fleet`))?.status()).toBe(403);

  await page.getByRole('button', { name: 'Revoke lobby screen' }).click();
  await expect(page.locator('tr[data-token="lobby screen"]')).toContainText('revoked');
  // One refresh later the wall is gone: the session it opened is ended.
  await kiosk.goto(`${mcpops.url}/wall`);
  await expect(kiosk).toHaveURL(/\/login/);
  const again = await kiosk.goto(`${mcpops.url}${kioskPath}`);
  expect(again?.status()).toBe(401);
  await expect(kiosk.getByRole('heading')).toContainText('no longer works');
  await kiosk.close();

  // A release pipeline's token: deploy markers only, for 30 days.
  await form.getByLabel('Kind').selectOption('api');
  await form.getByLabel('Name').fill('release pipeline');
  await form.getByLabel('Role (API tokens)').selectOption('operator');
  await form.getByLabel('read', { exact: true }).uncheck();
  await form.getByLabel('deploys:write').check();
  await form.getByLabel('Expires after (days)').fill('30');
  await form.getByRole('button', { name: 'Create token' }).click();
  const pipeline = page.locator('tr[data-token="release pipeline"]');
  await expect(pipeline).toContainText('deploys:write');
  await page.screenshot({ path: 'test-results/tokens-scoped.png', fullPage: true });
  noErrors();
});
