import { defineConfig, devices } from "@playwright/test";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";

// The server under test: the release binary (`cargo leptos build --release
// --precompress`) copied ALONE into a throwaway folder and run from there, on
// its own port, with an embedded database in that folder. Everything the
// browser loads must come from inside the binary: this is how it is deployed.
const port = Number(process.env.PAISA_E2E_PORT ?? 3100);
const root = path.resolve(__dirname, "..");
const built = process.env.PAISA_E2E_BINARY ?? path.join(root, "target/release/paisa");
// The config is also loaded by each worker; only the main process sets up.
const main = process.env.TEST_WORKER_INDEX === undefined;
const dataDir = main ? fs.mkdtempSync(path.join(os.tmpdir(), "paisa-e2e-")) : os.tmpdir();
const binary = path.join(dataDir, "paisa");
if (main) {
  fs.copyFileSync(built, binary);
  fs.chmodSync(binary, 0o755);
}

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  forbidOnly: true,
  retries: 0,
  workers: 2,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "off",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          // Debian's Chromium: Playwright cannot download browsers here.
          executablePath: process.env.PAISA_CHROMIUM ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        },
      },
    },
  ],
  webServer: {
    command: binary,
    cwd: dataDir,
    url: `http://127.0.0.1:${port}/healthz`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      DATA_DIR: path.join(dataDir, "data"),
      SECANTUSD: path.join(root, ".venv/bin/secantusd-py"),
      JWT_SECRET: "end-to-end-test-secret-at-least-32-bytes-long",
      RUST_LOG: "warn",
    },
  },
});
