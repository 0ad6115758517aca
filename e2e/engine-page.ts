import { relative, sep } from 'node:path';
import type { Page } from '@playwright/test';
import { ROOT } from '../test/fixtures';
import type { EngineRequest, EngineResult } from './engine';

/** The dev server serves the repository root, so a fixture's URL is its path from there. */
export const url = (file: string): string => '/' + relative(ROOT, file).split(sep).join('/');

/** Load the test page and run one request in it; console errors (GPU validation errors among them) come back too. */
export async function runInPage(page: Page, request: EngineRequest): Promise<{ result: EngineResult; errors: string[] }> {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/e2e/engine.html');
  await page.waitForFunction(() => typeof window.runEngine === 'function');
  return { result: await page.evaluate((r) => window.runEngine(r), request), errors };
}
