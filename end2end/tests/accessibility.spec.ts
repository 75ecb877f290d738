import AxeBuilder from "@axe-core/playwright";
import { expect, Page, test } from "@playwright/test";
import { hydrated, newPage, newUser, signUp, unique } from "./helpers";

/** axe's WCAG 2.0/2.1/2.2 A and AA rules over the whole page: no violation. */
async function scan(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]).analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join("\n    ")}`,
  );
  expect(found, `${what}: axe violations`).toEqual([]);
}

test("every page and every dialog passes axe's WCAG A and AA rules", async ({ browser }) => {
  const asha = newUser("Asha", unique("Zed"));
  const ravi = newUser("Ravi", unique("Zed"));
  const b = await newPage(browser);
  await signUp(b.page, ravi);
  const raviLink = await b.page.getByRole("textbox", { name: "Your pay link" }).inputValue();
  const raviId = raviLink.split("/pay/")[1];

  const { context, page } = await newPage(browser);
  for (const path of ["/signin", "/signup"]) {
    await page.goto(path);
    await hydrated(page);
    await scan(page, path);
  }
  await signUp(page, asha);
  // Ravi asks Asha, so that her dashboard has a request to show and pay.
  const ashaLink = await page.getByRole("textbox", { name: "Your pay link" }).inputValue();
  const ashaId = ashaLink.split("/pay/")[1];
  await b.page.goto(`/dashboard?request=${ashaId}`);
  const ask = b.page.getByRole("dialog", { name: "Request Money" });
  await ask.getByLabel("Amount (in ₹)").fill("1.00");
  await ask.getByRole("button", { name: /^Ask Asha/ }).click();
  await expect(ask.getByRole("status")).toContainText("Request sent");

  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("incoming-requests")).toBeVisible();
  await scan(page, "/dashboard");
  await page.getByLabel("Search users by name").fill(ravi.last);
  await expect(page.getByTestId("users").getByRole("listitem")).toHaveCount(1);
  await scan(page, "/dashboard with search results");

  const requestId = await page
    .getByTestId("incoming-requests")
    .getByRole("link", { name: /^Pay / })
    .getAttribute("href");
  for (const [path, name] of [
    [`/dashboard?send=${raviId}&note=Tea&amount=2`, "Send Money"],
    [`/dashboard?request=${raviId}`, "Request Money"],
    [requestId!, "Pay a request"],
  ]) {
    await page.goto(path);
    await hydrated(page);
    await expect(page.getByRole("dialog", { name })).toBeVisible();
    await scan(page, `${path} (${name} dialog)`);
  }
  for (const path of ["/transactions", "/profile", "/pay/not-a-user"]) {
    await page.goto(path);
    await hydrated(page);
    await scan(page, path);
  }
  await context.close();
  await b.context.close();
});
