import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// Measurements, not tests: `scripts/bench-first-load.sh` runs them and prints their figures.
export default defineConfig({
  ...base,
  testDir: './bench',
  timeout: 180_000,
  projects: [{ name: 'bench', use: { javaScriptEnabled: true } }],
});
