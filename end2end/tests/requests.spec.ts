import { expect, test } from "@playwright/test";
import { balancePaise, formatPaise, hydrated, newPage, newUser, signUp, unique, watchConsole } from "./helpers";

/** The user's id, from the pay link on their Receive card. */
async function payLink(page: import("@playwright/test").Page): Promise<string> {
  const link = await page.getByRole("textbox", { name: "Your pay link" }).inputValue();
  expect(link).toMatch(/^https?:\/\/[^/]+\/pay\/[0-9a-f]{24}$/);
  return link;
}

test("a request is asked, confirmed by the payer and paid once, both balances exact", async ({ browser }) => {
  const asha = newUser("Asha", unique("Zed"));
  const ravi = newUser("Ravi", unique("Zed"));
  const a = await newPage(browser);
  const b = await newPage(browser);
  const problems = [...watchConsole(a.page), ...watchConsole(b.page)];
  await signUp(a.page, asha);
  await signUp(b.page, ravi);
  const [ashaBefore, raviBefore] = [await balancePaise(a.page), await balancePaise(b.page)];

  // Ravi asks Asha for ₹1.25 for dinner.
  await b.page.getByLabel("Search users by name").fill(asha.last);
  await b.page.getByRole("link", { name: `Request money from Asha ${asha.last}` }).click();
  const ask = b.page.getByRole("dialog", { name: "Request Money" });
  await expect(ask.getByTestId("person")).toHaveText(`Asha ${asha.last}`);
  await ask.getByLabel("Amount (in ₹)").fill("1.25");
  await ask.getByLabel("Note (optional)").fill("Dinner 🍛");
  await ask.getByRole("button", { name: "Ask Asha to pay you" }).click();
  await expect(ask.getByRole("status")).toContainText("Request sent");
  await ask.getByRole("link", { name: "Done" }).click();
  await expect(b.page.getByTestId("outgoing-requests")).toContainText(`You asked Asha ${asha.last} for ₹1.25`);

  // Asha's open dashboard shows it (live), worded as money going out.
  const incoming = a.page.getByTestId("incoming-requests").getByRole("listitem").first();
  await expect(incoming).toContainText(`Ravi ${ravi.last} asks you for ₹1.25`, { timeout: 5_000 });
  await expect(incoming).toContainText("Dinner 🍛");
  await incoming.getByRole("link", { name: /^Pay ₹1\.25 to Ravi/ }).click();
  const confirm = a.page.getByRole("dialog", { name: "Pay a request" });
  await expect(confirm.getByTestId("pay-confirm")).toHaveText(
    new RegExp(`^You are paying ₹1\\.25 to Ravi ${ravi.last} \\(r•••@example\\.com\\)$`),
  );
  // Nothing has moved before the confirm.
  expect(await balancePaise(a.page)).toBe(ashaBefore);
  await a.page.setViewportSize({ width: 360, height: 740 });
  await confirm.screenshot({ path: test.info().outputPath("confirm-step-360.png") });
  await confirm.getByRole("button", { name: "Pay ₹1.25" }).click();
  await expect(confirm.getByRole("status")).toContainText(`Paid ₹1.25 to Ravi ${ravi.last}`);
  await confirm.getByRole("link", { name: "Done" }).click();

  await a.page.reload();
  await b.page.reload();
  expect(await balancePaise(a.page)).toBe(ashaBefore - 125);
  expect(await balancePaise(b.page)).toBe(raviBefore + 125);
  await expect(a.page.getByTestId("requests")).toHaveCount(0);
  // In history as a paid request, with its note.
  await a.page.goto("/transactions");
  await expect(a.page.getByTestId("transactions").getByRole("listitem").first()).toContainText("Dinner 🍛");
  expect(problems).toEqual([]);
  await a.context.close();
  await b.context.close();
});

test("a pay link opens the prefilled dialog, through sign-in when signed out", async ({ browser }) => {
  const asha = newUser("Asha", unique("Zed"));
  const ravi = newUser("Ravi", unique("Zed"));
  const b = await newPage(browser, { viewport: { width: 360, height: 740 } });
  await signUp(b.page, ravi);
  const link = await payLink(b.page);
  await b.page.getByTestId("receive").screenshot({ path: test.info().outputPath("receive-card-360.png") });

  // Asha, signed up elsewhere and signed out, follows the link.
  const a = await newPage(browser);
  const problems = watchConsole(a.page);
  await signUp(a.page, asha);
  const before = await balancePaise(a.page);
  await a.context.clearCookies();
  const path = new URL(link).pathname;
  await a.page.goto(`${path}?amount=3.25&note=Tea`);
  await expect(a.page).toHaveURL(/\/signin\?next=/);
  await hydrated(a.page);
  await a.page.getByLabel("Email").fill(asha.email);
  await a.page.getByLabel("Password").fill(asha.password);
  await a.page.getByRole("button", { name: "Sign in" }).click();
  const dialog = a.page.getByRole("dialog", { name: "Send Money" });
  await expect(dialog.getByTestId("recipient")).toHaveText(`Ravi ${ravi.last}`);
  await expect(dialog.getByLabel("Amount (in ₹)")).toHaveValue("3.25");
  await expect(dialog.getByLabel("Note (optional)")).toHaveValue("Tea");
  await dialog.getByRole("button", { name: "Initiate Transfer" }).click();
  await expect(dialog.getByRole("status")).toContainText("Sent ₹3.25 to Ravi");
  await expect(a.page.getByTestId("balance")).toHaveText(formatPaise(before - 325));

  // A link that is not one says so; a bad amount is not filled in.
  const bad = await a.page.goto("/pay/not-a-user");
  expect(bad?.status()).toBe(404);
  await expect(a.page.getByRole("heading", { name: "This pay link is not valid" })).toBeVisible();
  await a.page.goto(`${path}?amount=1.001`);
  const again = a.page.getByRole("dialog", { name: "Send Money" });
  await expect(again.getByRole("alert")).toContainText("The amount in this link is not valid");
  await expect(again.getByLabel("Amount (in ₹)")).toHaveValue("");
  expect(problems).toEqual([]);
  await a.context.close();
  await b.context.close();
});

test("the QR code of the pay link is in the first HTML", async ({ browser }) => {
  const ravi = newUser("Ravi", unique("Zed"));
  const { context, page } = await newPage(browser);
  await signUp(page, ravi);
  const html = await (await context.request.get("/dashboard")).text();
  const qr = html.match(/data-testid="qr"[^>]*>\s*(<svg[\s\S]*?<\/svg>)/);
  expect(qr, "an inline SVG inside the QR element").not.toBeNull();
  expect(qr![1]).not.toContain("<?xml");
  await expect(page.getByRole("img", { name: "QR code of your pay link" })).toBeVisible();
  await context.close();
});
