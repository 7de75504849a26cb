// browser.mjs - what the console tests share: Debian's chromium driven by
// playwright-core (no browser download), TAP lines as tests/harness.h
// prints them, and screenshots into the test's work directory.
import { chromium } from "playwright-core";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export const env = (name) => {
    const v = process.env[name];
    if (v === undefined) throw new Error(`${name} is not set (tests/it_console.sh sets it)`);
    return v;
};

let failed = 0;
export const failures = () => failed;

export function check(name, cond, detail) {
    const more = detail ? ` (${String(detail).replace(/\s+/g, " ")})` : "";     // one TAP line, whatever the page wrote
    console.log(`${cond ? "ok" : "not ok"} - ${name}${more}`);
    if (!cond) failed += 1;
    return cond;
}

export function skip(name, why) {
    console.log(`ok - ${name} # SKIP ${why}`);
}

export const diag = (text) => console.log(`# ${text}`);

// The flags the machine's chromium needs headless as root, and none of its
// calls home (a site has no internet; the test must not wait on one).
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps"];

// A browser profile in DIR, kept between runs of this process: the
// operator's key stored by the enrolment page is there for the console.
export async function launch(dir, viewport) {
    return chromium.launchPersistentContext(dir, {
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: ARGS,
        viewport: viewport || { width: 1366, height: 768 },
    });
}

// true once SELECTOR is on the page within MS, false otherwise.
export async function appears(page, selector, ms) {
    try {
        await page.waitForSelector(selector, { timeout: ms, state: "attached" });
        return true;
    } catch (e) {
        return false;
    }
}

// Saves NAME.png under the work dir and a copy under SHOTS_COPY (build/console-screenshots).
export async function shot(page, name) {
    const dir = join(env("WORK"), "screenshots");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    if (process.env.SHOTS_COPY) {
        mkdirSync(process.env.SHOTS_COPY, { recursive: true });
        copyFileSync(file, join(process.env.SHOTS_COPY, `${name}.png`));
    }
}

// JSON as vigild publishes it on SITE's topic SUFFIX, signed with the site's KEY
// (a CryptoKey): the gsig of docs/mqtt.md "Signed payloads", written from the spec.
export async function siteSigned(key, site, suffix, json) {
    const sig = await crypto.subtle.sign("Ed25519", key, new TextEncoder().encode(`vigil-msg-v1\n${site}\n${suffix}\n${json}`));
    return `${json.slice(0, -1)},"gsig":"${Buffer.from(sig).toString("base64")}"}`;
}

// Ends the run after MS whatever happens: the test is bounded in time.
export function deadline(ms) {
    setTimeout(() => {
        check(`the browser test finished within ${ms / 1000} s`, false);
        process.exit(1);
    }, ms).unref();
}
