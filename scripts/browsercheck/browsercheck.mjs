// Opens feedmill's HTML pages in headless Chromium, on a desktop and a narrow (phone) viewport,
// light and dark, and fails on anything a person would notice: a console error, an uncaught
// script error, a request that failed or answered >= 400, a page wider than the screen, or a
// page without a language, a title or one main heading. Saves a full-page screenshot of each.
//
//   node browsercheck.mjs BASE_URL OUT_DIR PATH...
//
// Chromium is the system one (CHROMIUM, default /usr/bin/chromium); playwright-core only
// drives it. Each viewport gets a fresh browser context (Playwright launches Chromium with a
// fresh temporary --user-data-dir of its own).

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, outDir, ...paths] = process.argv.slice(2);
if (!base || !outDir || paths.length === 0) {
  console.error('usage: node browsercheck.mjs BASE_URL OUT_DIR PATH...');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const viewports = [
  { name: 'desktop', options: { viewport: { width: 1280, height: 800 } } },
  {
    name: 'mobile',
    options: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
  },
  // The pages follow the reader's colour scheme.
  {
    name: 'mobile-dark',
    options: {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      colorScheme: 'dark',
    },
  },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

const problems = [];
try {
  for (const { name, options } of viewports) {
    const context = await browser.newContext(options);
    for (const path of paths) {
      const page = await context.newPage();
      const where = `${name} ${path}`;
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`${where}: console error: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`${where}: script error: ${e.message}`));
      page.on('requestfailed', (r) =>
        problems.push(`${where}: request failed: ${r.url()} (${r.failure()?.errorText})`),
      );
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${where}: ${r.status()} for ${r.url()}`);
      });
      const response = await page.goto(base + path, { waitUntil: 'networkidle' });
      if (!response || !response.ok()) {
        problems.push(`${where}: answered ${response ? response.status() : 'nothing'}`);
      }
      const facts = await page.evaluate(() => ({
        lang: document.documentElement.lang,
        title: document.title,
        h1: document.querySelectorAll('h1').length,
        width: document.documentElement.scrollWidth,
        unlabelled: [...document.querySelectorAll('input, select, textarea')].filter(
          (e) => !e.labels?.length && !e.getAttribute('aria-label'),
        ).length,
        noAlt: [...document.querySelectorAll('img')].filter((i) => !i.hasAttribute('alt')).length,
      }));
      if (!facts.lang) problems.push(`${where}: <html> has no lang`);
      if (!facts.title) problems.push(`${where}: no <title>`);
      if (facts.h1 !== 1) problems.push(`${where}: ${facts.h1} <h1> elements, expected 1`);
      // Against the viewport asked for: a phone widens its layout viewport to fit what overflows.
      if (facts.width > options.viewport.width) {
        problems.push(`${where}: ${facts.width}px wide in a ${options.viewport.width}px viewport`);
      }
      if (facts.unlabelled) problems.push(`${where}: ${facts.unlabelled} form fields without a label`);
      if (facts.noAlt) problems.push(`${where}: ${facts.noAlt} images without alt`);
      const file = join(outDir, `${name}${path.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '') || '-index'}.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.log(`${where}: ${facts.title} → ${file}`);
      await page.close();
    }
    await context.close();
  }
} finally {
  await browser.close();
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log(`ok: ${paths.length} pages × ${viewports.length} viewports, no console errors or failed requests`);
