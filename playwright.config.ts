import { existsSync } from 'node:fs';
import { defineConfig } from '@playwright/test';

const PORT = Number(process.env.E2E_PORT ?? 4791);
/** The demo page's dev server (exported for e2e/demo.spec.ts). */
export const DEMO_PORT = Number(process.env.E2E_DEMO_PORT ?? 4792);

// A Chromium named by CHROMIUM_PATH, else the system one (Debian's ships SwiftShader, so WebGPU works
// without a GPU), else Playwright's own download (`npx playwright install chromium`).
const executablePath = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

export default defineConfig({
  testDir: 'e2e',
  // SwiftShader runs WebGPU on the CPU and takes every core: one test at a time, and slowly.
  workers: 1,
  fullyParallel: false,
  timeout: 300_000,
  expect: { timeout: 30_000 },
  forbidOnly: !!process.env.CI,
  use: { baseURL: `http://127.0.0.1:${PORT}`, trace: 'off' },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        // Without it Linux Chromium offers no WebGPU adapter; with it and no GPU, SwiftShader's.
        launchOptions: { executablePath, args: ['--enable-unsafe-webgpu'] },
      },
    },
  ],
  webServer: [
    {
      command: `npx vite --config e2e/vite.config.ts --host 127.0.0.1 --port ${PORT} --strictPort`,
      url: `http://127.0.0.1:${PORT}/e2e/engine.html`,
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
    // The demo page's dev server (`npm start`), for e2e/demo.spec.ts; DEMO_NO_RELOAD keeps others' edits from reloading it mid-test.
    {
      command: `npx vite --config demo/vite.config.ts --host 127.0.0.1 --port ${DEMO_PORT} --strictPort`,
      url: `http://127.0.0.1:${DEMO_PORT}/`,
      env: { DEMO_NO_RELOAD: '1' },
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
  ],
});
