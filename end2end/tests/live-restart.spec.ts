import { test, expect } from "@playwright/test";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { balancePaise, formatPaise, liveOpen, newUser, signUp, unique, watchConsole } from "./helpers";

// A server of this test's own (the shared one must not restart under the
// other tests): the same release binary, its own port and data folder, so
// that sessions and balances survive its restart.
const root = path.resolve(__dirname, "../..");
const binary = process.env.PAISA_E2E_BINARY ?? path.join(root, "target/release/paisa");

function startServer(port: number, dataDir: string): ChildProcess {
  return spawn(binary, [], {
    cwd: dataDir,
    stdio: "ignore",
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      DATA_DIR: path.join(dataDir, "data"),
      SECANTUSD: path.join(root, ".venv/bin/secantusd-py"),
      JWT_SECRET: "end-to-end-test-secret-at-least-32-bytes-long",
      RUST_LOG: "warn",
    },
  });
}

/** Until this server answers (not another one left on the port). */
async function healthy(server: ChildProcess, port: number) {
  await expect
    .poll(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status, { timeout: 60_000 })
    .toBe(200);
  expect(server.exitCode, `the server on port ${port} exited`).toBeNull();
}

async function stop(server: ChildProcess) {
  if (server.exitCode !== null) return;
  const exited = new Promise((done) => server.once("exit", done));
  server.kill("SIGTERM");
  await exited;
}

// What Chromium itself logs while a server is away or refusing (the
// connections it tries, and an EventSource answered 503): the browser's
// network lines, not the app's.
const away = /^error: (Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)|Failed to load resource: the server responded with a status of 503 |EventSource's response has a (status|MIME type))/;

test("the live stream comes back after the server restarts under an open page", async ({ browser }, info) => {
  test.setTimeout(120_000);
  const port = 3300 + info.workerIndex;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "paisa-e2e-restart-"));
  let server = startServer(port, dataDir);
  try {
    await healthy(server, port);
    const baseURL = `http://127.0.0.1:${port}`;
    const a = await browser.newContext({ baseURL });
    const b = await browser.newContext({ baseURL });
    const aPage = await a.newPage();
    const bPage = await b.newPage();
    const problems = watchConsole(bPage);
    const asha = newUser("Asha", unique("Restart"));
    const ravi = newUser("Ravi", unique("Restart"));
    await signUp(bPage, ravi);
    await signUp(aPage, asha);
    await aPage.close();
    await liveOpen(bPage);
    const before = await balancePaise(bPage);
    await bPage.evaluate(() => ((window as any).sameDocument = true));
    const users = await (await a.request.get(`/api/v1/user/bulk?filter=${encodeURIComponent(ravi.last)}`)).json();
    const pay = async (amount: number) => {
      const sent = await a.request.post("/api/v1/account/transfer", { data: { to: users.users[0]._id, amount } });
      expect(sent.status()).toBe(200);
    };
    // One payment before: the page has an entry to continue from.
    await pay(1);
    await expect(bPage.getByTestId("balance")).toHaveText(formatPaise(before + 100), { timeout: 2000 });

    await stop(server);
    // Down for longer than the browser's own retry (2 s): it gives up on
    // its stream, and the page must open a new one.
    await expect(bPage.locator('[data-live="open"]')).toHaveCount(0);
    await bPage.waitForTimeout(6000);
    server = startServer(port, dataDir);
    await healthy(server, port);
    const restartedAt = Date.now();
    await pay(4.5);
    // The browser reconnects by itself (retry: 2 s) from the last entry it
    // saw, or the page opens a new stream from it: the payment is replayed
    // or arrives live, whichever came first.
    await expect(bPage.getByTestId("balance")).toHaveText(formatPaise(before + 550), { timeout: 35_000 });
    await expect(bPage.getByTestId("live-notice")).toHaveText(`₹4.50 received from Asha ${asha.last}`);
    console.log(`after the restart, the payment showed ${Date.now() - restartedAt} ms after the server was healthy again`);
    expect(await bPage.evaluate(() => (window as any).sameDocument)).toBe(true);
    console.log(`browser lines while the server was away: ${JSON.stringify(problems)}`);
    // No panic, no error of the app's own: only the browser's network lines.
    expect(problems.filter((p) => !away.test(p))).toEqual([]);
    await a.close();
    await b.close();
  } finally {
    await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
