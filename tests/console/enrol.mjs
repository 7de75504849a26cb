// enrol.mjs - the operator enrols in the browser: the enrolment page makes
// a key pair (WebCrypto Ed25519, private key non-extractable, kept in
// IndexedDB) and shows the public key line for the site config, which this
// script writes to KEYLINE_FILE for the site. On the console page, its
// canonical form and WebCrypto signature are checked against the
// published vectors of docs/commands.md (tests/cmdgate_vectors.txt), so the
// page's bytes are vigil's bytes.
import { readFileSync, writeFileSync } from "node:fs";
import { launch, check, env, shot, failures, deadline } from "./browser.mjs";

// [{site, command, canonical, sig}] from the vectors file.
function vectors(file) {
    const text = readFileSync(file, "utf8");
    const site = text.match(/site "([^"]+)"/)[1];
    const re = /^command: (.*)\ncanonical:\n((?:.*\n){10})sig: (\S+)$/gm;
    return [...text.matchAll(re)].map((m) => ({ site, command: JSON.parse(m[1]), canonical: m[2], sig: m[3] }));
}

// In the page: the vector key (seed 00..1f, imported as PKCS#8) signs what commands.js makes canonical.
async function signVectors(page, list) {
    return page.evaluate(async (vs) => {
        const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
        const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...seed]);
        const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
        const out = [];
        for (const v of vs) {
            const canonical = vigil.commands.canonical(v.site, v.command);
            out.push({ canonical, sig: await vigil.keys.sign({ privateKey }, canonical) });
        }
        return out;
    }, list);
}

deadline(20000);
const ctx = await launch(env("PROFILE"));
const page = await ctx.newPage();
await page.goto(`${env("CONSOLE_URL")}/enrol.html`);
await page.waitForSelector("#have:not(:empty)");
check("the enrolment page starts without a key", (await page.textContent("#have")).includes("No key"));

const vs = vectors(env("VECTORS"));
const consolePage = await ctx.newPage();
await consolePage.goto(`${env("CONSOLE_URL")}/index.html`);
const got = await signVectors(consolePage, vs);
await consolePage.close();
const bad = vs.filter((v, i) => got[i].canonical !== v.canonical || got[i].sig !== v.sig).map((v) => v.command.id);
check(`the page's canonical form and signature reproduce the ${vs.length} published command vectors`,
    vs.length > 0 && bad.length === 0, bad.join(" "));

await page.fill("#name", env("OPERATOR"));
await page.selectOption("#role", "officer");
await page.click("#make");
await page.waitForSelector("#line-box:not([hidden])", { timeout: 5000 });
const line = (await page.textContent("#config-line")).trim();
const m = line.match(/^\{ name = "([^"]+)"; role = "officer"; key = "([A-Za-z0-9+/]{43}=)"; \},$/);
check("the enrolment page shows the operator's public key line for the site config", !!m && m[1] === env("OPERATOR"), line);
const extractable = await page.evaluate(async () => (await vigil.keys.load()).privateKey.extractable);
check("the private key is kept non-extractable in the browser's key store", extractable === false);
await shot(page, "enrol");
writeFileSync(env("KEYLINE_FILE"), line + "\n");
await ctx.close();
process.exit(failures() ? 1 : 0);
