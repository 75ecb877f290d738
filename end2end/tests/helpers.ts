import { expect, Page, Browser } from "@playwright/test";

let counter = 0;
/** A unique email: the database persists for the whole test run. */
export const email = (name: string) =>
  `${name.toLowerCase()}.${Date.now()}.${process.pid}.${counter++}@example.com`;

/**
 * Collects every console error or warning and uncaught exception. One kind
 * is expected and let through: the browser's own network line for a 4xx
 * answer (a refused payment or a wrong password is answered 400/401, and
 * Chromium logs every non-2xx fetch). A 5xx is never let through.
 */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  const expected4xx = /^Failed to load resource: the server responded with a status of 4\d\d /;
  page.on("console", (m) => {
    if ((m.type() === "error" || m.type() === "warning") && !expected4xx.test(m.text())) problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

export async function hydrated(page: Page) {
  await page.locator("html[data-hydrated]").waitFor({ state: "attached" });
}

/** A name part no other test (or earlier run) will share: `Zed` + 6 random letters. */
export const unique = (stem: string) =>
  stem + Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");

export interface User { first: string; last: string; email: string; password: string }

export function newUser(first: string, last: string): User {
  return { first, last, email: email(first), password: "a long passphrase" };
}

/** Signs up through the form; ends on the dashboard. */
export async function signUp(page: Page, u: User, { js = true } = {}) {
  await page.goto("/signup");
  if (js) await hydrated(page);
  await page.getByLabel("First name").fill(u.first);
  await page.getByLabel("Last name").fill(u.last);
  await page.getByLabel("Email").fill(u.email);
  await page.getByLabel("Password").fill(u.password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  if (js) await hydrated(page);
}

/** The balance on the dashboard, in paise. */
export async function balancePaise(page: Page): Promise<number> {
  const text = (await page.getByTestId("balance").textContent()) ?? "";
  const m = text.match(/^₹([\d,]+)\.(\d{2})$/);
  expect(m, `balance text ${text}`).not.toBeNull();
  return Number(m![1].replace(/,/g, "")) * 100 + Number(m![2]);
}

/** Paise as the app writes money: `₹1,23,456.78`. */
export function formatPaise(paise: number): string {
  const rupees = Math.floor(paise / 100).toString();
  const last3 = rupees.slice(-3);
  const rest = rupees.slice(0, -3).replace(/\B(?=(\d{2})+(?!\d))/g, ",");
  return `₹${rest ? rest + "," : ""}${last3}.${String(paise % 100).padStart(2, "0")}`;
}

/** Waits until the page's live stream is open (`data-live="open"`). */
export async function liveOpen(page: Page) {
  await page.locator('[data-live="open"]').waitFor({ state: "attached" });
}

export async function newPage(browser: Browser, opts: { javaScriptEnabled?: boolean; viewport?: { width: number; height: number } } = {}) {
  const context = await browser.newContext(opts);
  return { context, page: await context.newPage() };
}
