// Loads GET /api/v1/docs in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core over the DevTools protocol) twice: once with
// JavaScript on, collecting console errors, page errors, failed requests
// and any request that leaves the page's origin, and once with JavaScript
// off (the page must not need it). Prints one JSON object:
//   {title, routes: [[METHOD, PATH], ...], routes_nojs: [...],
//    console_errors, page_errors, failed_requests, foreign_requests,
//    screenshot}
// Usage: node docs-check.js URL SCREENSHOT.png [CHROMIUM]
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [url, shot, exe] = process.argv.slice(2);
  if (!url || !shot) {
    console.error('usage: node docs-check.js URL SCREENSHOT.png [CHROMIUM]');
    process.exit(2);
  }
  const origin = new URL(url).origin;
  const browser = await chromium.launch({
    executablePath: exe || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--disable-dev-shm-usage'],
  });
  const out = { console_errors: [], page_errors: [], failed_requests: [],
                foreign_requests: [], screenshot: shot };
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') {
        out.console_errors.push(`${m.type()}: ${m.text()}`);
      }
    });
    page.on('pageerror', (e) => out.page_errors.push(String(e)));
    page.on('requestfailed', (r) => out.failed_requests.push(`${r.url()} ${r.failure() && r.failure().errorText}`));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin) && !u.startsWith('data:')) out.foreign_requests.push(u);
    });
    const resp = await page.goto(url, { waitUntil: 'load' });
    out.status = resp.status();
    out.title = await page.title();
    out.routes = await page.$$eval('article.op', (els) =>
      els.map((e) => [e.getAttribute('data-method'), e.getAttribute('data-path'),
                      e.querySelector('h3') ? e.querySelector('h3').innerText : '']));
    out.visible_headings = await page.$$eval('article.op h3', (els) =>
      els.filter((e) => e.getBoundingClientRect().height > 0).length);
    await page.screenshot({ path: shot, fullPage: true });
    // give late console messages (CSP reports) a moment
    await page.waitForTimeout(200);
    await ctx.close();

    const ctx2 = await browser.newContext({ javaScriptEnabled: false });
    const page2 = await ctx2.newPage();
    await page2.goto(url, { waitUntil: 'load' });
    const text = await page2.innerText('main');
    out.routes_nojs = await page2.$$eval('article.op', (els) =>
      els.map((e) => [e.getAttribute('data-method'), e.getAttribute('data-path')]));
    out.nojs_text_length = text.length;
    await ctx2.close();
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
