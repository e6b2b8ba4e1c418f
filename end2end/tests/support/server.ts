// Starts a real mcpops (the release build) on a free port with its own SQLite file.
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, Page } from '@playwright/test';

const repo = resolve(__dirname, '..', '..', '..');
const binary = process.env.MCPOPS_BIN ?? join(repo, 'target', 'release', 'mcpops');

export interface Running {
  url: string;
  port: number;
  dataDir: string;
  /** The demo admin's password, printed by `mcpops demo` at start. */
  adminPassword: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export const DEMO_ADMIN = 'demo-admin';
export const PASSWORD = 'correct horse battery staple';

/**
 * A free port below Linux's ephemeral range (32768+): the demo fleet binds its servers to
 * ephemeral ports after this is chosen, and one of them could otherwise take it first.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolveFree) => {
      const server = createServer();
      server.once('error', () => resolveFree(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
    });
    if (free) return port;
  }
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`mcpops exited with ${child.exitCode}:\n${output()}`);
    }
    try {
      const response = await fetch(`${url}/health/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mcpops did not become ready:\n${output()}`);
}

/** Starts `mcpops demo` (or `serve` when demoServers is 0) on an existing or fresh data dir. */
export async function startMcpops(
  options: {
    demoServers?: number;
    dataDir?: string;
    pollSeconds?: number;
    env?: Record<string, string>;
    /** The port of an earlier run, so its open pages reconnect to this one. */
    port?: number;
  } = {},
): Promise<Running> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'mcpops-e2e-'));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const demoServers = options.demoServers ?? 4;
  const args = demoServers > 0 ? ['demo', '--servers', String(demoServers)] : ['serve'];
  const env = {
    ...process.env,
    MCPOPS__SERVER__LISTEN: `127.0.0.1:${port}`,
    MCPOPS__SERVER__SITE_ROOT: join(repo, 'target', 'site'),
    MCPOPS__DATABASE__URL: `sqlite://${join(dataDir, 'mcpops.db')}`,
    MCPOPS__LOG__LEVEL: 'warn',
    MCPOPS__DEMO__INTERVAL_SECS: String(options.pollSeconds ?? 10),
    ...options.env,
  };
  const child = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (chunk) => (log += chunk));
  child.stderr?.on('data', (chunk) => (log += chunk));
  await waitReady(url, child, () => log);
  const adminPassword = /sign in as demo-admin with password (\S+)/.exec(log)?.[1] ?? '';
  return {
    url,
    port,
    dataDir,
    adminPassword,
    env,
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

/** Creates an account with PASSWORD through the command line, as an operator would. */
export function addUser(running: Running, name: string, role: string): void {
  const result = spawnSync(binary, ['user', 'add', name, '--role', role, '--password-stdin'], {
    env: running.env,
    input: `${PASSWORD}\n`,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`user add failed: ${result.stdout}${result.stderr}`);
}

/** Signs the page's browser context in without the form (for specs about something else). */
export async function signInQuietly(page: Page, running: Running, name = DEMO_ADMIN, password?: string): Promise<void> {
  const response = await page.request.post(`${running.url}/api/auth/login`, {
    form: { username: name, password: password ?? running.adminPassword, next: '/' },
    maxRedirects: 0,
  });
  expect(response.status(), await response.text()).toBeLessThan(400);
}

/** Signs in through the login form, as a person does. */
export async function signIn(page: Page, running: Running, name: string, password: string): Promise<void> {
  await page.goto(`${running.url}/login`);
  await waitForHydration(page);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).not.toHaveURL(/\/login/);
}

// Chromium logs every non-2xx fetch; a wrong password (401), refused form input (422) and
// conflicts (409) are expected answers.
const EXPECTED_REFUSALS = /Failed to load resource: .* status of (401|409|422) /;

/**
 * Fails the test on any console error or uncaught exception, such as a hydration panic. Call
 * the check before stopping the server: a live page then fails to reconnect, which is expected.
 */
export function watchForErrors(page: Page): () => void {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !EXPECTED_REFUSALS.test(message.text())) errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return () => expect(errors, 'browser errors').toEqual([]);
}

/** Resolves once the WASM bundle has hydrated the page. */
export async function waitForHydration(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
}

/** A webhook receiver on loopback at `path` that keeps every JSON body it is sent. */
export async function jsonReceiver(path: string): Promise<{ url: string; messages: any[]; close: () => void }> {
  const messages: any[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      messages.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}${path}`, messages, close: () => server.close() };
}
