// What the end-to-end runs share (e2e/run.mjs: the dashboard, e2e/shop.mjs:
// the shop): the engine binary, started as `flashsale up` in embedded mode
// and stopped, headless Chromium, the steps and their summary, a buyer's
// token, and a few page helpers.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const DASH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(DASH, '..');
export const DIST = path.join(DASH, 'dist');
export const SHOTS = path.join(DASH, 'screenshots');
export const DOCS = path.join(DASH, 'docs');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let tag = 'e2e';
/** Sets the prefix of this run's log lines. */
export function setLogTag(t) {
  tag = t;
}
export function log(...a) {
  console.log(`[${tag}]`, ...a);
}

export function findBinary() {
  if (process.env.FLASHSALE_BIN) return path.resolve(process.env.FLASHSALE_BIN);
  const candidates = ['release', 'debug']
    .map((p) => path.join(ROOT, 'target', p, 'flashsale'))
    .filter((p) => fs.existsSync(p))
    .map((p) => ({ p, t: fs.statSync(p).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  if (candidates.length === 0) {
    throw new Error(`no engine binary: set FLASHSALE_BIN or build ${path.join(ROOT, 'target/{release,debug}/flashsale')}`);
  }
  return candidates[0].p;
}

/** Runs `npm run build` when a page of dist/ is missing (both pages come from one build). */
export function ensureDist(pages = ['index.html', 'shop/index.html']) {
  if (pages.every((p) => fs.existsSync(path.join(DIST, p)))) return;
  log('dist/ missing a page: running npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: DASH, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

/** The engine process of the run (`engines.current`), and its last output lines. */
export const engines = { current: null };
export const engineLog = [];

/** Starts `flashsale up`; resolves with its base URL once the banner line is printed. */
export function startEngine({ bin, dataDir, adminToken, jwtSecret, bind = '127.0.0.1:0', env: extra = {} }) {
  const env = { ...process.env };
  for (const k of ['FLASHSALE_REDIS_URL', 'FLASHSALE_AMQP_URL', 'FLASHSALE_DATABASE_URL']) delete env[k];
  Object.assign(env, {
    FLASHSALE_BIND: bind,
    FLASHSALE_DATA_DIR: dataDir,
    FLASHSALE_ADMIN_TOKEN: adminToken,
    FLASHSALE_JWT_SECRET: jwtSecret,
    FLASHSALE_RATE_PER_IP: '0',
    FLASHSALE_RATE_PER_USER: '0',
    // buyers pay their own orders (POST /api/orders/{id}/pay): the embedded default, stated
    FLASHSALE_PAYMENTS: 'simulated',
    // E2E_EMBEDDED=1: the pages built into the binary (scripts/test);
    // otherwise dist/ as it is now, with no Rust rebuild after a page edit.
    ...(process.env.E2E_EMBEDDED === '1' ? {} : { FLASHSALE_DASHBOARD_DIR: DIST }),
    ...extra,
  });
  const child = spawn(bin, ['up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  engines.current = child;
  return new Promise((resolve, reject) => {
    let buf = '';
    let listening = null;
    const timer = setTimeout(() => reject(new Error(`engine printed no "FlashSale listening on" line within 60 s\n${engineLog.slice(-30).join('\n')}`)), 60_000);
    const done = () => {
      child.stdout.off('data', onData);
      child.stdout.on('data', (c) => engineLog.push(...c.toString().split('\n').filter(Boolean)));
      resolve({ ...listening, child, banner: buf });
    };
    const onData = (chunk) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) engineLog.push(line);
      if (engineLog.length > 2000) engineLog.splice(0, engineLog.length - 2000);
      buf += text;
      if (listening) return;
      const m = buf.match(/FlashSale listening on (http:\/\/[0-9.]+:(\d+))/);
      if (m) {
        clearTimeout(timer);
        listening = { url: m[1], port: Number(m[2]) };
        // the banner's other lines (the shop's demo link…) follow the first
        setTimeout(done, 300);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => {
      for (const line of c.toString().split('\n')) if (line.trim()) engineLog.push(line);
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (engines.current === child) engines.current = null;
      reject(new Error(`engine exited (code ${code}, signal ${sig}) before listening\n${engineLog.slice(-30).join('\n')}`));
    });
  });
}

export async function stopEngine(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 8000);
  await done;
  clearTimeout(t);
}

/** The steps of a run: each passes, fails (the run stops) or, when soft, warns. */
export const results = [];

export async function step(name, fn, { soft = false } = {}) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, soft, error: e });
    log(`${soft ? 'WARN' : 'FAIL'} ${name}: ${e && e.message ? e.message.split('\n').slice(0, 6).join('\n  ') : e}`);
    if (!soft) throw e;
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export const byTestId = (id) => `[data-testid="${id}"]`;

export async function dataAttr(page, testId, attr = 'value') {
  return page.$eval(byTestId(testId), (el, a) => el.dataset[a] ?? null, attr);
}

export async function waitData(page, testId, attr, predicateSrc, timeout, label) {
  try {
    await page.waitForFunction(
      ({ sel, attr, src }) => {
        const el = document.querySelector(sel);
        if (!el) return false;
        const v = el.dataset[attr];
        return new Function('v', `return (${src});`)(v);
      },
      { sel: byTestId(testId), attr, src: predicateSrc },
      { timeout, polling: 200 },
    );
  } catch {
    const v = await page.$eval(byTestId(testId), (el, a) => el.dataset[a], attr).catch(() => '<missing>');
    throw new Error(`${label}: timed out after ${timeout} ms (data-${attr} of ${testId} = ${v})`);
  }
}

export async function shoot(page, name, opts = {}) {
  await page.mouse.move(0, 0);
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
  });
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(SHOTS, name), ...opts });
}

/** A buyer's token: an HS256 JWT signed with the engine's secret, valid `ttl` seconds (10 minutes). */
export function buyerToken(secret, sub, ttl = 600) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: now, exp: now + ttl })}`;
  return `${unsigned}.${crypto.createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

export async function cssVar(page, name) {
  return page.evaluate((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim(), name);
}

export async function launchChromium() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/** Prints the summary; the process's exit code: 1 when a step failed, or warned. */
export function summary(exitCode) {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.filter((r) => !r.ok && !r.soft).length;
  const warned = results.filter((r) => !r.ok && r.soft).length;
  // A run stopped by an error no step caught counts that error as a failure.
  const stopped = exitCode && failed === 0 ? 1 : 0;
  if (failed > 0) exitCode = 1;
  if (warned > 0) log(`${warned} soft check(s) failed (see WARN above)`);
  console.log(`${tag}: ${passed} passed, ${failed + stopped + warned} failed`);
  return exitCode || (warned > 0 ? 1 : 0);
}

/**
 * Runs `main`, then always closes the browser, stops the engine and removes
 * the data folder (`state()` gives the script's browser and folder), and
 * exits with the summary's status; Ctrl-C or SIGTERM stop everything at once.
 */
export async function runE2E(main, state) {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      engines.current?.kill('SIGKILL');
      state().browser?.close().catch(() => {});
      process.exit(130);
    });
  }
  let exitCode = 0;
  try {
    await main();
  } catch (e) {
    exitCode = 1;
    if (!results.some((r) => !r.ok)) log('FAIL', e && e.stack ? e.stack : e);
    if (engineLog.length) log('last engine output:\n' + engineLog.slice(-25).join('\n'));
  } finally {
    const { browser, dataDir } = state();
    await browser?.close().catch(() => {});
    await stopEngine(engines.current).catch(() => {});
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(summary(exitCode));
}
