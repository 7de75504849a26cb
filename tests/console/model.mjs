// model.mjs - the console's rules without a browser: console/js/model.js and
// verify.js are free of DOM and clock, so node runs them as the page does.
// Scenario table: messages in, then what the guard must be told.
import { readFileSync } from "node:fs";
import { check, env, siteSigned } from "./browser.mjs";

globalThis.window = {};
new Function(readFileSync(`${env("VIGIL_TOP")}/console/js/model.js`, "utf8"))();
const { Model } = window.vigil.model;

const ev = (seq, extra) => JSON.stringify({ seq, ts: `2026-12-06T14:02:${String(seq % 60).padStart(2, "0")}.000Z`,
    alarm: "door.intrusion", priority: "high", state: "active_unacked", ...extra });
const recent = (site) => site.recent.map((r) => r.notice ? `${r.notice}${r.first ? ` ${r.first}-${r.last}` : ""}` : r.ev.seq).reverse().join(",");

function run(messages) {
    const m = new Model("vigil", [], 60);
    for (const [topic, text, retained, now] of messages)
        m.apply(`vigil/d7/${topic}`, text, !!retained, now ?? 0);
    return m;
}

let m = run([["events", ev(1)], ["events", ev(4)], ["events", ev(2)], ["events", ev(2)], ["events", ev(3)], ["events", ev(5)]]);
check("a gap is flagged once, late events fill it, duplicates are dropped", recent(m.sites.get("d7")) === "1,gap 2-3,4,2,3,5",
    recent(m.sites.get("d7")));

m = run([["events", ev(41, { epoch: 7 })], ["events", ev(42, { epoch: 7 })], ["events", ev(1, { epoch: 8 })], ["events", ev(2, { epoch: 8 })]]);
check("a new epoch is flagged as lost history and its seq starts again", recent(m.sites.get("d7")) === "41,42,epoch,1,2",
    recent(m.sites.get("d7")));

m = run([["events", ev(5)], ["events", ev(6, { epoch: 3 })], ["events", ev(7, { epoch: 3 })]]);
check("events that start to carry an epoch are the same history", recent(m.sites.get("d7")) === "5,6,7", recent(m.sites.get("d7")));

m = run([
    ["alarms/a.low", ev(1, { alarm: "a.low", priority: "low" }), true],
    ["alarms/b.crit", ev(2, { alarm: "b.crit", priority: "critical", state: "active_acked" }), true],
    ["alarms/c.high", ev(3, { alarm: "c.high" }), true],
    ["alarms/d.high", ev(4, { alarm: "d.high" }), true],
    ["alarms/d.high", "", false],
    ["events", ev(9, { alarm: "c.high", state: "active_acked" })],
]);
const order = m.sortedAlarms().map((a) => `${a.ev.alarm}:${a.ev.state}`).join(" ");
check("retained alarms then live events: priority first, cleared ones gone", order === "b.crit:active_acked c.high:active_acked a.low:active_unacked", order);
check("no sound once every critical and high alarm is acknowledged", m.soundingAlarms().length === 0);

const status = (state, hb) => JSON.stringify({ site: "d7", state, ts: "2026-12-06T14:00:00.000Z", heartbeat_s: hb });
m = run([["status", status("online", 20), false, 1000]]);
const h = (now) => m.health(m.sites.get("d7"), now).state;
const gone = run([["status", status("offline", 20), false, 0]]);
check("a site is silent once its heartbeat is 2 intervals late, offline when it says so",
    h(41000) === "online" && h(42001) === "silent" && gone.health(gone.sites.get("d7"), 0).state === "offline");

m = run([["status", status("online", 86400), false, 0]]);
check("a status claiming a day-long heartbeat is judged by an hour at most (silent after 2 h, not 2 days)",
    m.health(m.sites.get("d7"), 7201000).state === "silent", m.health(m.sites.get("d7"), 7201000).state);

m = run([["events", ev(5)], ["events", ev(5000006, { alarm: "x.high" })], ["events", ev(6)]]);
check("an event far beyond the last seq is shown, not trusted: it raises no alarm, later real events still count",
    recent(m.sites.get("d7")) === "5,suspicious,5000006,6" && !m.sites.get("d7").alarms.has("x.high"), recent(m.sites.get("d7")));

// The site's signatures (docs/mqtt.md "Signed payloads"): verify.js on the bytes, the model on its verdict.
new Function(readFileSync(`${env("VIGIL_TOP")}/console/js/verify.js`, "utf8"))();
const { judge, importKey } = window.vigil.verify;
const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
const pub = await importKey(Buffer.from(await crypto.subtle.exportKey("raw", pair.publicKey)).toString("base64"));
const enc = (s) => new TextEncoder().encode(s);
const good = await siteSigned(pair.privateKey, "d7", "status", status("online", 20));
const verdicts = [
    await judge(pub, "d7", "status", enc(good)), await judge(pub, "d7", "status", enc(status("online", 20))),
    await judge(pub, "d7", "status", enc(good.replace('"online"', '"offline"'))), await judge(pub, "d9", "status", enc(good)),
    await judge(pub, "d7", "alarms/x", enc(good)), await judge(pub, "d7", "alarms/x", enc("")), await judge(null, "d7", "status", enc(good)),
].join(" ");
check("a signature verifies on its own site and topic only; unsigned, altered and moved payloads are caught",
    verdicts === "good unsigned forged forged forged cleared none", verdicts);
let threw = false;
try { await importKey("not a key"); } catch (e) { threw = true; }
check("a site key that is not 32 bytes of base64 is refused", threw);

m = new Model("vigil", ["d7"], 60, new Map([["d7", "verified"]]));
m.apply("vigil/d7/status", status("offline", 20), true, 0, "good");
m.apply("vigil/d7/status", status("online", 86400), true, 0, "unsigned");
m.apply("vigil/d7/alarms/a.high", ev(1, { alarm: "a.high" }), true, 0, "forged");
m.apply("vigil/d7/events", ev(2, { alarm: "b.high", site: "d9" }), false, 0, "none");
m.apply("vigil/d7/cmd", JSON.stringify({ op: "ack", alarm: "a.high" }), false, 0, "unsigned");   // a console's, not the site's
const d7 = m.sites.get("d7");
check("a forged message is never shown as a real alarm or a normal state: the last signed state stays",
    m.health(d7, 0).state === "offline" && d7.alarms.size === 0 && d7.mark === null, `${m.health(d7, 0).state} ${d7.alarms.size}`);
const raised = m.forgeries().map(({ f }) => `${f.suffix}:${f.why}`).join(" ");
check("each forged, unsigned or misaddressed message of the site raises the console's own alarm, one per topic; commands are not the site's",
    raised === "status:unsigned alarms/a.high:forged events:site", raised);
m.ackForgery("d7", "status");
check("the guard acknowledges a forgery alarm and it leaves the list", m.forgeries().length === 2);
