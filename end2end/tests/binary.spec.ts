import { test, expect } from "@playwright/test";

// The server under test is the release binary alone in a temp folder: every
// asset below can only come from inside it.
test("the binary serves its own site, precompressed and revalidatable", async ({ request }) => {
  const page = await request.get("/signin");
  expect(page.status()).toBe(200);
  const html = await page.text();
  for (const asset of ["/pkg/paisa.js", "/pkg/paisa.wasm", "/pkg/paisa.css"]) {
    expect(html).toContain(asset);
    const first = await request.get(asset, { headers: { "accept-encoding": "br" } });
    expect(first.status(), asset).toBe(200);
    expect(first.headers()["content-encoding"], asset).toBe("br");
    const etag = first.headers()["etag"];
    expect(etag, asset).toBeTruthy();
    const again = await request.get(asset, { headers: { "accept-encoding": "br", "if-none-match": etag } });
    expect(again.status(), asset).toBe(304);
  }
  const plain = await request.get("/pkg/paisa.wasm", { headers: { "accept-encoding": "identity" } });
  expect(plain.headers()["content-type"]).toBe("application/wasm");
  expect(plain.headers()["content-encoding"]).toBeUndefined();
  expect([...(await plain.body()).subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]); // "\0asm"
  expect((await request.get("/pkg/nothing.js")).status()).toBe(404);
  expect((await request.get("/pkg/../Cargo.toml")).status()).toBe(404);
});
