// model.mjs - the console's rules without a browser: console/js/model.js is
// free of DOM and clock, so node runs it as the page does. Scenario table:
// messages in, then what the guard must be told.
import { readFileSync } from "node:fs";
import { check, env } from "./browser.mjs";

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
