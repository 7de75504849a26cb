// enrol.mjs - the operator enrols in the browser: the enrolment page makes
// a key pair (WebCrypto Ed25519, private key non-extractable, kept in
// IndexedDB) and shows the public key line for the site config, which this
// script writes to KEYLINE_FILE. With KEEP_KEY=0 the key is removed again
// through the page (a site without the command gate refuses signed commands).
import { writeFileSync } from "node:fs";
import { launch, check, env, shot, failures, deadline } from "./browser.mjs";

deadline(20000);
const ctx = await launch(env("PROFILE"));
const page = await ctx.newPage();
await page.goto(`${env("CONSOLE_URL")}/enrol.html`);
await page.waitForSelector("#have:not(:empty)");
check("the enrolment page starts without a key", (await page.textContent("#have")).includes("No key"));
await page.fill("#name", env("OPERATOR"));
await page.selectOption("#role", "officer");
await page.click("#make");
await page.waitForSelector("#line-box:not([hidden])", { timeout: 5000 });
const line = (await page.textContent("#config-line")).trim();
const m = line.match(/^\{ name = "([^"]+)"; role = "officer"; key = "([A-Za-z0-9+/]{43}=)"; \},$/);
check("the enrolment page shows the operator's public key line for the site config", !!m && m[1] === env("OPERATOR"), line);
const extractable = await page.evaluate(async () => (await window.vigil.keys.load()).privateKey.extractable);
check("the private key is kept non-extractable in the browser's key store", extractable === false);
await shot(page, "enrol");
writeFileSync(env("KEYLINE_FILE"), line + "\n");
if (process.env.KEEP_KEY === "0") {
    await page.click("#forget");
    check("the key can be removed again from the enrolment page", (await page.textContent("#have")).includes("No key"));
}
await ctx.close();
process.exit(failures() ? 1 : 0);
