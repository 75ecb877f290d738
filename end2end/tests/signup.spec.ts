import { test, expect } from "@playwright/test";

// A unique email per run: the database persists for the whole test run.
const email = () => `asha.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.com`;

test("a new user signs up in the browser and sees their balance", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto("/signup");
  await expect(page.getByRole("heading", { name: "Sign up" })).toBeVisible();
  // Wait for hydration so the form is driven by the WASM app, not a plain post.
  await page.locator("html[data-hydrated]").waitFor({ state: "attached" });

  await page.getByLabel("First name").fill("Asha");
  await page.getByLabel("Last name").fill("Rao");
  await page.getByLabel("Email").fill(email());
  await page.getByLabel("Password").fill("a long passphrase");
  await page.getByRole("button", { name: "Sign up" }).click();

  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("greeting")).toHaveText("Hello, Asha");
  await expect(page.getByTestId("balance")).toHaveText(/^₹(\d{1,2},)*\d{1,3}\.\d{2}$/);
  expect(errors).toEqual([]);
});

test("sign-up works without JavaScript too", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/signup");
  await page.getByLabel("First name").fill("Ravi");
  await page.getByLabel("Last name").fill("Kumar");
  await page.getByLabel("Email").fill(email());
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Sign up" }).click();
  // The server answers with the form again and the reason.
  await expect(page.getByText("Password must be at least 8 characters")).toBeVisible();

  await page.getByLabel("First name").fill("Ravi");
  await page.getByLabel("Last name").fill("Kumar");
  await page.getByLabel("Email").fill(email());
  await page.getByLabel("Password").fill("a long passphrase");
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("greeting")).toHaveText("Hello, Ravi");
  await expect(page.getByTestId("balance")).toContainText("₹");
  await context.close();
});
