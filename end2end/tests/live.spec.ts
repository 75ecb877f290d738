import { test, expect, Page } from "@playwright/test";
import { balancePaise, formatPaise, hydrated, liveOpen, newPage, newUser, signUp, unique, User, watchConsole } from "./helpers";

/** The user's id, as another signed-in user's search finds it. */
async function idOf(searcher: Page, u: User): Promise<string> {
  const found = await searcher.request.get(`/api/v1/user/bulk?filter=${encodeURIComponent(u.last)}`);
  expect(found.status()).toBe(200);
  const { users } = await found.json();
  expect(users).toHaveLength(1);
  return users[0]._id;
}

/** Sends money through the JSON API, as the page's signed-in user (its cookie). */
async function send(from: Page, to: string, amount: number, note: string | null = null) {
  const sent = await from.request.post("/api/v1/account/transfer", { data: { to, amount, note } });
  expect(sent.status(), await sent.text()).toBe(200);
}

test("a payment reaches the open dashboards of both people, without reloading", async ({ browser }) => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const problems = [a.page, b.page].map(watchConsole);
  const asha = newUser("Asha", unique("Live"));
  const ravi = newUser("Ravi", unique("Live"));
  await signUp(b.page, ravi);
  await signUp(a.page, asha);
  // Asha has a second tab open on her dashboard.
  const other = await a.context.newPage();
  problems.push(watchConsole(other));
  await other.goto("/dashboard");
  await hydrated(other);
  for (const page of [b.page, other]) await liveOpen(page);
  const raviBefore = await balancePaise(b.page);
  const ashaBefore = await balancePaise(other);
  await expect(b.page.getByTestId("live-notice")).toHaveAttribute("aria-live", "polite");
  await expect(b.page.getByTestId("live-notice")).toHaveText("");
  // Anything that reloads the page would lose this.
  await b.page.evaluate(() => ((window as any).sameDocument = true));

  // Asha sends through the dialog in her first tab.
  await a.page.getByLabel("Search users by name").fill(ravi.last);
  await a.page.getByRole("link", { name: `Send money to Ravi ${ravi.last}` }).click();
  const dialog = a.page.getByRole("dialog", { name: "Send Money" });
  await dialog.getByLabel("Amount (in ₹)").fill("1.50");
  const sentAt = Date.now();
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();

  await expect(b.page.getByTestId("balance")).toHaveText(formatPaise(raviBefore + 150), { timeout: 2000 });
  const delivered = Date.now() - sentAt;
  await expect(b.page.getByTestId("live-notice")).toHaveText(`₹1.50 received from Asha ${asha.last}`, { timeout: 2000 });
  await expect(other.getByTestId("balance")).toHaveText(formatPaise(ashaBefore - 150), { timeout: 2000 });
  await expect(other.getByTestId("live-notice")).toHaveText(`₹1.50 sent to Ravi ${ravi.last}`, { timeout: 2000 });
  const deliveredToBoth = Date.now() - sentAt;
  await expect(dialog.getByRole("status")).toContainText("Sent ₹1.50 to Ravi");
  expect(await b.page.evaluate(() => (window as any).sameDocument)).toBe(true);
  await expect(b.page).toHaveURL(/\/dashboard$/);
  test.info().annotations.push({ type: "delivery", description: `recipient ${delivered} ms, both ${deliveredToBoth} ms after the click` });
  console.log(`live delivery: recipient ${delivered} ms, both tabs ${deliveredToBoth} ms after the click`);

  // A second payment while the first notice shows: the newest replaces it.
  // (Small: a welcome balance can be as little as ₹1.00.)
  await send(a.page, await idOf(a.page, ravi), 0.25);
  await expect(b.page.getByTestId("balance")).toHaveText(formatPaise(raviBefore + 150 + 25), { timeout: 2000 });
  await expect(b.page.getByTestId("live-notice")).toHaveText(`₹0.25 received from Asha ${asha.last}`);
  // What the server says after a reload is what the page showed.
  await b.page.reload();
  await hydrated(b.page);
  expect(await balancePaise(b.page)).toBe(raviBefore + 150 + 25);
  expect(problems.flat()).toEqual([]);
  await a.context.close();
  await b.context.close();
});

test("new entries go on top of the open transactions page, each once", async ({ browser }) => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const problems = [a.page, b.page].map(watchConsole);
  const asha = newUser("Asha", unique("Ledger"));
  const ravi = newUser("Ravi", unique("Ledger"));
  await signUp(b.page, ravi);
  await signUp(a.page, asha);
  const raviId = await idOf(a.page, ravi);
  await send(a.page, raviId, 1);
  await b.page.getByRole("link", { name: "Transactions" }).click();
  await expect(b.page).toHaveURL(/\/transactions$/);
  const entries = b.page.getByTestId("transactions").getByRole("listitem");
  // The welcome balance and the first payment, loaded with the page.
  await expect(entries).toHaveCount(2);
  await liveOpen(b.page);
  await b.page.evaluate(() => ((window as any).sameDocument = true));

  const sentAt = Date.now();
  await send(a.page, raviId, 2.25, "chai");
  await expect(entries).toHaveCount(3, { timeout: 2000 });
  const delivered = Date.now() - sentAt;
  await expect(entries.first()).toContainText(`Asha ${asha.last}`);
  await expect(entries.first()).toContainText("+₹2.25");
  await expect(entries.first()).toContainText("chai");
  await expect(entries.first()).toHaveAttribute("data-direction", "received");
  await send(a.page, raviId, 3);
  await expect(entries).toHaveCount(4, { timeout: 2000 });
  await expect(entries.nth(0)).toContainText("+₹3.00");
  await expect(entries.nth(1)).toContainText("+₹2.25");
  await expect(entries.nth(2)).toContainText("+₹1.00");
  await expect(entries.nth(3)).toContainText("Welcome balance");
  expect(await b.page.evaluate(() => (window as any).sameDocument)).toBe(true);
  console.log(`live delivery to the transactions page: ${delivered} ms`);

  // Read from the server, the page is the same: nothing twice, nothing lost.
  const live = await entries.allTextContents();
  await b.page.reload();
  await hydrated(b.page);
  await expect(entries).toHaveCount(4);
  expect(await entries.allTextContents()).toEqual(live);
  expect(problems.flat()).toEqual([]);
  await a.context.close();
  await b.context.close();
});

test("a refused stream is opened again once there is room, and none once signed out", async ({ browser, baseURL }) => {
  test.setTimeout(120_000);
  const b = await newPage(browser);
  const ravi = newUser("Ravi", unique("Tabs"));
  await signUp(b.page, ravi);
  await liveOpen(b.page);
  // Seven more streams of Ravi's, held from here (a browser allows a site
  // only six connections over HTTP/1.1): eight, as many as a user may have.
  const cookie = (await b.context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const held: AbortController[] = [];
  for (let i = 1; i < 8; i++) {
    const stop = new AbortController();
    const stream = await fetch(`${baseURL}/api/v1/events`, { headers: { cookie }, signal: stop.signal });
    expect(stream.status).toBe(200);
    held.push(stop);
  }
  const ninth = await b.context.newPage();
  const problems = watchConsole(ninth);
  const streams: number[] = [];
  ninth.on("response", (r) => {
    if (new URL(r.url()).pathname === "/api/v1/events") streams.push(r.status());
  });
  await ninth.goto("/dashboard");
  await hydrated(ninth);
  await expect.poll(() => streams).toContain(429);
  // Room for one more: the page tries again after a pause (1 s, 2 s, 4 s, …).
  held.pop()!.abort();
  const freedAt = Date.now();
  await liveOpen(ninth);
  console.log(`refused stream open again ${Date.now() - freedAt} ms after a slot was freed; answers: ${streams.join(", ")}`);
  const before = await balancePaise(ninth);
  const a = await newPage(browser);
  await signUp(a.page, newUser("Asha", unique("Tabs")));
  await send(a.page, await idOf(a.page, ravi), 7);
  await expect(ninth.getByTestId("balance")).toHaveText(formatPaise(before + 700), { timeout: 2000 });

  // Signed out everywhere: the streams end, the browser's retry is refused
  // (403), and the page does not try again.
  const out = await b.context.request.post("/api/v1/user/signout-all");
  expect(out.status()).toBe(200);
  await expect.poll(() => streams, { timeout: 10_000 }).toContain(403);
  await expect(ninth.locator('[data-live="open"]')).toHaveCount(0);
  const tries = streams.length;
  await ninth.waitForTimeout(6000);
  expect(streams.length).toBe(tries);
  console.log(`stream answers on the ninth tab: ${streams.join(", ")}; console: ${JSON.stringify(problems)}`);
  // Only the browser's own lines for the refusals (4xx), nothing of the app's.
  expect(problems).toEqual([]);
  for (const stop of held) stop.abort();
  await a.context.close();
  await b.context.close();
});

test("a page in the background lets its stream go, and catches up when shown", async ({ browser }) => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const problems = watchConsole(b.page);
  const asha = newUser("Asha", unique("Away"));
  const ravi = newUser("Ravi", unique("Away"));
  await signUp(b.page, ravi);
  await signUp(a.page, asha);
  await liveOpen(b.page);
  const before = await balancePaise(b.page);
  const raviId = await idOf(a.page, ravi);
  await send(a.page, raviId, 1);
  await expect(b.page.getByTestId("balance")).toHaveText(formatPaise(before + 100), { timeout: 2000 });
  // Headless pages are always shown: tell this one it is not, as a browser
  // does for a tab in the background, and let the grace period (30 s) pass.
  await b.page.clock.install();
  await setHidden(b.page, true);
  await b.page.waitForTimeout(100);
  await b.page.clock.runFor(31_000);
  await expect(b.page.locator('[data-live="open"]')).toHaveCount(0);
  // Missed while away, then replayed from the last entry the page saw.
  await send(a.page, raviId, 2);
  await send(a.page, raviId, 3);
  await setHidden(b.page, false);
  await liveOpen(b.page);
  await expect(b.page.getByTestId("balance")).toHaveText(formatPaise(before + 600), { timeout: 2000 });
  await expect(b.page.getByTestId("live-notice")).toHaveText(`₹3.00 received from Asha ${asha.last}`);
  expect(problems).toEqual([]);
  await a.context.close();
  await b.context.close();
});

async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}
