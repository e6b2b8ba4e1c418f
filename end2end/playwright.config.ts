import { defineConfig } from '@playwright/test';

// Debian's Chromium; Playwright's own browser download is not available here.
const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
};

export default defineConfig({
  testDir: './tests',
  // Every spec starts its own mcpops; two cores are enough for one at a time.
  workers: 1,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    headless: true,
    launchOptions: chromium,
    screenshot: 'only-on-failure',
    trace: 'off',
  },
  projects: [
    { name: 'hydrated', testIgnore: /\.nojs\.spec\.ts$/, use: { javaScriptEnabled: true } },
    { name: 'no-javascript', testMatch: /\.nojs\.spec\.ts$/, use: { javaScriptEnabled: false } },
  ],
});
