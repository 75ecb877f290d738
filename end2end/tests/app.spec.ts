import { test, expect } from "@playwright/test";
import { balancePaise, formatPaise, hydrated, newPage, newUser, signUp, unique, watchConsole } from "./helpers";

test("one user finds another by name, sends money, and both see it", async ({ browser }) => {
  const a = await newPage(browser);
  const b = await newPage(browser);
  const problems = [...[a.page, b.page].map(watchConsole)];
  const asha = newUser("Asha", unique("Sender"));
  const ravi = newUser("Ravi", unique("Zed"));
  await signUp(b.page, ravi);
  const raviBefore = await balancePaise(b.page);
  await signUp(a.page, asha);
  const ashaBefore = await balancePaise(a.page);

  // Type part of the last name: the list follows as you type.
  await a.page.getByLabel("Search users by name").pressSequentially(ravi.last.slice(0, 7).toLowerCase());
  const row = a.page.getByRole("listitem").filter({ hasText: `Ravi ${ravi.last}` });
  await expect(row).toBeVisible();
  await expect(a.page.getByTestId("users").getByRole("listitem")).toHaveCount(1);
  await row.getByRole("link", { name: `Send money to Ravi ${ravi.last}` }).click();

  const dialog = a.page.getByRole("dialog", { name: "Send Money" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId("recipient")).toHaveText(`Ravi ${ravi.last}`);
  await expect(dialog.getByLabel("Amount (in ₹)")).toBeFocused();
  await dialog.getByLabel("Amount (in ₹)").fill("0.75");
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();
  await expect(dialog.getByRole("status")).toContainText(`Sent ₹0.75 to Ravi`);
  await expect(a.page.getByTestId("balance")).toHaveText(formatPaise(ashaBefore - 75));
  await expect(dialog.getByTestId("new-balance")).toHaveText(formatPaise(ashaBefore - 75));
  await dialog.getByRole("link", { name: "Done" }).click();
  await expect(dialog).toBeHidden();

  // The recipient's balance and both histories show it.
  await b.page.reload();
  await expect(b.page.getByTestId("balance")).toHaveText(formatPaise(raviBefore + 75));
  await a.page.getByRole("link", { name: "Transactions" }).click();
  await expect(a.page.getByTestId("transactions").getByRole("listitem").first()).toContainText(`Ravi ${ravi.last}`);
  await expect(a.page.getByTestId("transactions").getByRole("listitem").first()).toContainText("−₹0.75");
  await b.page.goto("/transactions");
  await expect(b.page.getByTestId("transactions").getByRole("listitem").first()).toContainText(`Asha ${asha.last}`);
  await expect(b.page.getByTestId("transactions").getByRole("listitem").first()).toContainText("+₹0.75");
  expect(problems.flat()).toEqual([]);
});

test("insufficient balance shows the server's message and moves nothing", async ({ browser }) => {
  const a = await newPage(browser);
  const problems = watchConsole(a.page);
  const other = await newPage(browser);
  const ravi = newUser("Ravi", unique("Poor"));
  await signUp(other.page, ravi);
  await signUp(a.page, newUser("Asha", unique("Broke")));
  const before = await balancePaise(a.page);
  await a.page.getByLabel("Search users by name").fill(ravi.last);
  await a.page.getByRole("link", { name: `Send money to Ravi ${ravi.last}` }).click();
  const dialog = a.page.getByRole("dialog", { name: "Send Money" });
  await dialog.getByLabel("Amount (in ₹)").fill("20000");
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();
  await expect(dialog.getByRole("alert")).toHaveText("Insufficient balance");
  // Bad input is refused with a reason, too.
  await dialog.getByLabel("Amount (in ₹)").fill("1.001");
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();
  await expect(dialog.getByRole("alert")).toHaveText("Amount can have at most 2 decimal places");
  await a.page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await a.page.reload();
  expect(await balancePaise(a.page)).toBe(before);
  expect(problems).toEqual([]);
});

test("sign out, change the profile, sign in with the new password", async ({ page }) => {
  const problems = watchConsole(page);
  const u = newUser("Mira", unique("Nair"));
  await signUp(page, u);
  await page.getByRole("link", { name: "Profile" }).click();
  await expect(page.getByRole("heading", { name: "Profile" })).toBeVisible();
  await page.getByLabel("First name").fill("Meera");
  await page.getByLabel("New password (leave blank to keep yours)").fill("a different passphrase");
  // A new password needs the current one.
  await page.getByLabel("Current password (needed for a new one)").fill("not my password");
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Current password is incorrect")).toBeVisible();
  await page.getByLabel("New password (leave blank to keep yours)").fill("a different passphrase");
  await page.getByLabel("Current password (needed for a new one)").fill(u.password);
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Profile updated.")).toBeVisible();
  await expect(page.getByTestId("greeting")).toHaveText("Hello, Meera");
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/signin(\?next=[^&]*)?$/);
  // Private pages now send us to sign in.
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/signin(\?next=[^&]*)?$/);
  await hydrated(page);
  await page.getByLabel("Email").fill(u.email);
  await page.getByLabel("Password").fill(u.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Incorrect email or password" })).toBeVisible();
  await page.getByLabel("Password").fill("a different passphrase");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("greeting")).toHaveText("Hello, Meera");
  expect(problems).toEqual([]);
});

test("the whole send flow works with JavaScript disabled", async ({ browser }) => {
  const other = await newPage(browser);
  const ravi = newUser("Ravi", unique("NoJs"));
  await signUp(other.page, ravi);
  const { page, context } = await newPage(browser, { javaScriptEnabled: false });
  await signUp(page, newUser("Asha", unique("NoJs")), { js: false });
  const before = await balancePaise(page);
  await page.getByLabel("Search users by name").fill(ravi.last);
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/filter=/);
  await page.getByRole("link", { name: `Send money to Ravi ${ravi.last}` }).click();
  const dialog = page.getByRole("dialog", { name: "Send Money" });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel("Amount (in ₹)").fill("999999");
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();
  await expect(dialog.getByRole("alert")).toHaveText("Insufficient balance");
  await dialog.getByLabel("Amount (in ₹)").fill("1.50");
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();
  await expect(dialog.getByRole("status")).toContainText("Sent ₹1.50 to Ravi");
  await expect(page.getByTestId("balance")).toHaveText(formatPaise(before - 150));
  // Submitting the same form again (back + resubmit) does not send twice.
  await dialog.getByRole("link", { name: "Done" }).click();
  await page.goto("/transactions");
  // The one transfer, and before it the welcome balance from Paisa.
  const entries = page.getByTestId("transactions").getByRole("listitem");
  await expect(entries).toHaveCount(2);
  await expect(entries.last()).toContainText("Welcome balance");
  await expect(entries.last()).toHaveAttribute("data-kind", "grant");
  await context.close();
});

test("the profile lists signed-in devices and ends another one", async ({ browser }) => {
  const u = newUser("Kiran", unique("Devices"));
  const laptop = await newPage(browser);
  const problems = watchConsole(laptop.page);
  await signUp(laptop.page, u);
  const phone = await newPage(browser, { viewport: { width: 360, height: 740 } });
  await phone.page.goto("/signin");
  await hydrated(phone.page);
  await phone.page.getByLabel("Email").fill(u.email);
  await phone.page.getByLabel("Password").fill(u.password);
  await phone.page.getByRole("button", { name: "Sign in" }).click();
  await expect(phone.page).toHaveURL(/\/dashboard$/);

  await laptop.page.goto("/profile");
  await hydrated(laptop.page);
  const devices = laptop.page.getByTestId("devices").getByRole("listitem");
  await expect(devices).toHaveCount(2);
  await expect(laptop.page.locator('[data-testid="devices"] li[data-current="true"]')).toContainText("This device");
  await laptop.page.getByRole("button", { name: /^End the session on / }).click();
  await expect(devices).toHaveCount(1);
  // The phone is signed out at its next step.
  await phone.page.goto("/dashboard");
  await expect(phone.page).toHaveURL(/\/signin(\?next=[^&]*)?$/);
  // Sign out everywhere: this device too.
  await laptop.page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(laptop.page).toHaveURL(/\/signin(\?next=[^&]*)?$/);
  await laptop.page.goto("/dashboard");
  await expect(laptop.page).toHaveURL(/\/signin(\?next=[^&]*)?$/);
  expect(problems).toEqual([]);
  await laptop.context.close();
  await phone.context.close();
});

test("keyboard only: search, open the dialog, send, close", async ({ browser }) => {
  const other = await newPage(browser);
  const ravi = newUser("Ravi", unique("Keys"));
  await signUp(other.page, ravi);
  const { page } = await newPage(browser);
  const problems = watchConsole(page);
  await signUp(page, newUser("Asha", unique("Keys")));
  const before = await balancePaise(page);
  await page.getByLabel("Search users by name").focus();
  await page.keyboard.type(ravi.last);
  const link = page.getByRole("link", { name: `Send money to Ravi ${ravi.last}` });
  await expect(link).toBeVisible();
  await expect(page.getByTestId("users").getByRole("listitem")).toHaveCount(1);
  // Tab from the search box to the row's button.
  for (let i = 0; i < 5 && !(await link.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(link).toBeFocused();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Send Money" });
  const amount = dialog.getByLabel("Amount (in ₹)");
  await expect(amount).toBeFocused();
  // Focus stays inside the dialog.
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => !!document.activeElement?.closest("dialog"))).toBe(true);
  }
  await amount.focus();
  await page.keyboard.type("2");
  await page.keyboard.press("Enter");
  await expect(dialog.getByRole("status")).toContainText("Sent ₹2.00 to Ravi");
  await expect(page.getByTestId("balance")).toHaveText(formatPaise(before - 200));
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  expect(problems).toEqual([]);
});

test("screenshots: dashboard and dialog, desktop and 360 px", async ({ browser }, info) => {
  for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone-360", { width: 360, height: 740 }]] as const) {
    const { page, context } = await newPage(browser, { viewport });
    const problems = watchConsole(page);
    const other = await newPage(browser);
    const ravi = newUser("Ravi", unique("Shot"));
    await signUp(other.page, ravi);
    await signUp(page, newUser("Asha", unique("Shot")));
    await page.getByLabel("Search users by name").fill(`Ravi ${ravi.last}`);
    await expect(page).toHaveURL(/filter=/);
    await expect(page.getByTestId("users").getByRole("listitem")).toHaveCount(1);
    // Nothing overflows sideways on a phone.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
    await page.screenshot({ path: info.outputPath(`dashboard-${name}.png`), fullPage: true });
    await page.getByRole("link", { name: `Send money to Ravi ${ravi.last}` }).click();
    await expect(page.getByRole("dialog", { name: "Send Money" })).toBeVisible();
    await page.screenshot({ path: info.outputPath(`dialog-${name}.png`) });
    expect(problems).toEqual([]);
    await context.close();
    await other.context.close();
  }
});
