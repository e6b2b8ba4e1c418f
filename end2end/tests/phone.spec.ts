import { test, expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { DEMO_ADMIN, Running, signInQuietly, startMcpops, waitForHydration, watchForErrors } from './support/server';

// Every page read on a phone (390×844) and on a wall or desk screen (1920×1080): nothing
// scrolls sideways, and axe-core finds no WCAG 2.1 A or AA violation. On the phone, the
// person who was paged acknowledges from the alert list and works the incident's first step.

const SIZES = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1920, height: 1080 },
];

let mcpops: Running;
let alertId = 0;
let incidentId = 0;
let scheduleId = 0;

/** Elements (and the document) whose content is wider than their box, described. */
async function sidewaysOverflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth) {
      found.push(`document: ${root.scrollWidth} > ${root.clientWidth}`);
    }
    // Form controls scroll their own text, not the page; inline boxes have no client width;
    // hidden ones (and text kept for screen readers in a 1-pixel box) are not seen.
    const readOnlyToScreenReaders = (el: HTMLElement): boolean => {
      for (let at: HTMLElement | null = el; at; at = at.parentElement) {
        if (at.clientWidth <= 1 && getComputedStyle(at).overflow === 'hidden') return true;
      }
      return false;
    };
    for (const el of Array.from(document.body.querySelectorAll<HTMLElement>('*'))) {
      if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) continue;
      if (el.clientWidth === 0 || getComputedStyle(el).visibility === 'hidden' || el.offsetParent === null) continue;
      if (readOnlyToScreenReaders(el)) continue;
      if (el.scrollWidth > el.clientWidth + 1) {
        const name = el.tagName.toLowerCase() + (el.id ? `#${el.id}` : '') + (el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : '');
        found.push(`${name}: ${el.scrollWidth} > ${el.clientWidth}`);
      }
    }
    return found;
  });
}

async function post(page: Page, path: string, form: Record<string, string>): Promise<any> {
  const response = await page.request.post(`${mcpops.url}${path}`, { form });
  expect(response.status(), `${path}: ${await response.text()}`).toBe(200);
  return response.json();
}

test.beforeAll(async ({ browser }) => {
  mcpops = await startMcpops({
    demoServers: 2,
    pollSeconds: 1,
    env: { MCPOPS__ALERTS__MIN_FIRING_SECS: '0' },
  });
  const page = await browser.newPage();
  await signInQuietly(page, mcpops);
  await post(page, '/api/demo/fault', { server: 'demo-01', fault: 'down', on: 'true' });
  await expect(async () => {
    const alerts = await post(page, '/api/alerts/list', { state: 'firing', severity: '', rule: '', target: '' });
    alertId = alerts.find((a: any) => a.target_name === 'demo-01')?.id ?? 0;
    expect(alertId).toBeGreaterThan(0);
  }).toPass({ timeout: 20_000 });
  const incident = await post(page, '/api/incidents/declare', { title: 'Checkout errors in eu', severity: 'critical', targets: 'demo-01', runbook: 'high-error-rate' });
  incidentId = incident.id;
  scheduleId = await post(page, '/api/oncall/create', {
    name: 'primary',
    time_zone: 'Europe/Amsterdam',
    layer_name: 'weekly',
    rotation: 'weekly',
    first_handoff: '2026-01-05T09:00',
    participants: DEMO_ADMIN,
  });
  await page.close();
});

test.afterAll(async () => {
  await mcpops.stop();
});

function pages(): string[] {
  return [
    '/',
    '/fleet',
    '/fleet/1/edit',
    '/targets/1',
    '/alerts',
    `/alerts/${alertId}`,
    '/alerts/rules',
    '/alerts/silences',
    '/alerts/channels',
    '/incidents',
    `/incidents/${incidentId}`,
    '/oncall',
    '/oncall/paging',
    `/oncall/${scheduleId}`,
    '/runbooks',
    '/runbooks/high-error-rate',
    '/capacity',
    '/readiness',
    '/admin',
    '/admin/users',
    '/admin/tokens',
    '/admin/backups',
    '/audit',
    '/audit/1',
    '/account/password',
  ];
}

for (const size of SIZES) {
  test(`every page fits a ${size.name} without sideways scrolling and passes axe-core`, async ({ page }) => {
    test.setTimeout(240_000);
    const noErrors = watchForErrors(page);
    await page.setViewportSize({ width: size.width, height: size.height });
    await signInQuietly(page, mcpops);
    const problems: string[] = [];
    for (const path of pages()) {
      await page.goto(`${mcpops.url}${path}`);
      await waitForHydration(page);
      for (const overflow of await sidewaysOverflow(page)) problems.push(`${path} scrolls sideways: ${overflow}`);
      const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      for (const violation of axe.violations) {
        problems.push(`${path} axe ${violation.id}: ${violation.help} (${violation.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
      }
      if (size.name === 'phone') await page.screenshot({ path: `test-results/phone${path.replace(/\//g, '_') || '_wall'}.png`, fullPage: true });
    }
    expect(problems).toEqual([]);
    noErrors();
  });
}

test('on a phone, the paged person acknowledges from the alert list and marks the incident\'s first step done', async ({ page }) => {
  const noErrors = watchForErrors(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await signInQuietly(page, mcpops);
  await page.goto(`${mcpops.url}/alerts`);
  await waitForHydration(page);
  const row = page.locator(`[data-alert="${alertId}"]`);
  const note = row.getByRole('textbox', { name: /^Note for acknowledging .* on demo-01$/ });
  const acknowledge = row.getByRole('button', { name: 'Acknowledge' });
  for (const control of [note, acknowledge, row.getByRole('button', { name: /^Declare an incident from/ }), row.getByRole('link', { name: /^Runbook:/ })]) {
    await control.scrollIntoViewIfNeeded();
    await expect(control).toBeInViewport();
    const box = await control.boundingBox();
    expect(box!.x + box!.width, 'reachable without scrolling sideways').toBeLessThanOrEqual(390);
  }
  expect((await acknowledge.boundingBox())!.height).toBeGreaterThanOrEqual(44);
  await note.fill('on it from my phone');
  await acknowledge.click();
  await expect(row).toHaveAttribute('data-state', 'acknowledged');
  expect(await sidewaysOverflow(page)).toEqual([]);
  await page.screenshot({ path: 'test-results/phone-acknowledged.png', fullPage: true });

  await page.goto(`${mcpops.url}/incidents/${incidentId}`);
  await waitForHydration(page);
  // The next action comes first: the phase's steps, then the status update, then the charts.
  const phase = page.getByRole('region', { name: 'Current phase' });
  const status = page.getByRole('region', { name: 'Status updates' });
  const charts = page.getByRole('region', { name: 'Affected targets' });
  const top = async (region: typeof phase) => (await region.boundingBox())!.y;
  expect(await top(phase)).toBeLessThan(await top(status));
  expect(await top(status)).toBeLessThan(await top(charts));
  const done = page.locator('li.step').first().getByRole('button', { name: 'Done' });
  await expect(done).toBeInViewport();
  expect((await done.boundingBox())!.height).toBeGreaterThanOrEqual(44);
  await done.click();
  await expect(page.locator('li.step').first()).toHaveAttribute('data-step-state', 'done');
  expect(await sidewaysOverflow(page)).toEqual([]);
  await page.screenshot({ path: 'test-results/phone-incident-step.png', fullPage: true });
  noErrors();
});
