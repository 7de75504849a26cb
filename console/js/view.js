/*
 * view.js - draws the model: sites, the alarm list, recent events and
 * command results. Rows are kept per alarm and updated in place, so a
 * button the guard has tabbed to keeps its focus while alarms come and go.
 * Every text comes from i18n; values are written with textContent only
 * (payload texts are never parsed as HTML).
 */
"use strict";
(function (vigil) {
    const t = (k, v) => vigil.i18n.t(k, v);

    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined) e.textContent = text;
        return e;
    }

    function button(label, onClick, cls) {
        const b = el("button", cls, label);
        b.type = "button";
        b.addEventListener("click", onClick);
        return b;
    }

    function fmtTime(ts) {
        const d = new Date(ts);
        if (isNaN(d)) return "—";
        const p = (n) => String(n).padStart(2, "0");
        const today = new Date().toDateString() === d.toDateString();
        const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
        return today ? time : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
    }

    function fmtAge(s) {
        if (s === null || s === undefined || isNaN(s)) return "—";
        s = Math.max(0, s);     /* a site clock a little ahead of this one */
        if (s < 60) return t("age_s", { s });
        if (s < 3600) return t("age_m", { m: Math.floor(s / 60), s: s % 60 });
        return t("age_h", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
    }

    /* A value is shown as current only when its quality is good (docs/mqtt.md). */
    function fmtValue(ev) {
        if (ev.value === null || ev.value === undefined) return "—";
        const v = Number(ev.value).toLocaleString(vigil.i18n.current(), { maximumFractionDigits: 2 });
        if (!ev.quality || ev.quality === "good") return v;
        return t("value_not_current", { v, q: t("quality_" + ev.quality) });
    }

    /* ---- sites --------------------------------------------------------------- */

    function siteCard(model, site, nowMs, actions) {
        const h = model.health(site, nowMs);
        const card = el("article", "site health-" + h.state);
        card.dataset.site = site.id;
        card.dataset.health = h.state;
        const head = el("h3", null, site.id);
        head.append(el("span", "badge", t("site_" + h.state)));
        card.append(head);
        let beat = t("heartbeat_age", { age: fmtAge(h.ageS), hb: h.heartbeatS });
        if (h.state === "unknown") beat = t("no_status");
        else if (h.state === "offline") beat = t("offline_since", { time: fmtTime(site.statusSeenMs) });
        card.append(el("p", "heartbeat", beat));
        card.append(el("p", "trust trust-" + site.trust, t("trust_" + site.trust)));
        for (const out of site.outputs.values())
            if (out.on)
                card.append(el("p", "output-on", t("output_on", { output: `${out.device}.${out.output}`, reason: out.reason || "" })));
        const down = [...site.devices.values()].filter((d) => d.up === false);
        for (const d of down)
            card.append(el("p", "device-down", t("device_down", { name: d.name || d.device })));
        card.append(zoneList(site, actions));
        return card;
    }

    function zoneList(site, actions) {
        const ul = el("ul", "zones");
        for (const z of [...site.zones.values()].sort((a, b) => String(a.zone).localeCompare(b.zone))) {
            const li = el("li", z.armed ? "armed" : "disarmed");
            li.dataset.zone = z.zone;
            li.append(el("span", "zone-name", z.name || z.zone),
                el("span", "zone-state", t(z.always_armed ? "always_armed" : z.armed ? "armed" : "disarmed")));
            /* a 24-hour zone cannot be disarmed: vigild would refuse, so the page does not offer it */
            if (actions.canArm() && !z.always_armed)
                li.append(button(t(z.armed ? "disarm" : "arm"), () => actions.arm(site.id, z.zone, !z.armed), "zone-action"));
            ul.append(li);
        }
        return ul;
    }

    function renderSites(model, nowMs, actions) {
        const box = document.getElementById("sites-list");
        const cards = [...model.sites.values()].map((s) => siteCard(model, s, nowMs, actions));
        /* Rebuilt only when something a guard can see changed: keeps focus on the zone buttons. */
        const html = cards.map((c) => c.outerHTML).join("");
        if (box.dataset.last === html) return;
        box.dataset.last = html;
        box.replaceChildren(...cards);
    }

    /* ---- alarms -------------------------------------------------------------- */

    const CELLS = ["priority", "state", "type", "zone", "point", "value", "time", "text"];

    function alarmRow(key, actions) {
        const tr = el("tr");
        tr.dataset.key = key;
        tr.tabIndex = 0;
        for (const c of CELLS) {
            const td = el("td", "c-" + c);
            td.dataset.label = t("col_" + c);
            tr.append(td);
        }
        const act = el("td", "c-actions");
        act.append(button(t("ack"), () => actions.ack(tr.dataset.site, tr.dataset.alarm), "ack"),
            button(t("shelve"), () => actions.shelve(tr.dataset.site, tr.dataset.alarm), "shelve"),
            button(t("unshelve"), () => actions.unshelve(tr.dataset.site, tr.dataset.alarm), "unshelve"));
        tr.append(act);
        return tr;
    }

    function fillAlarmRow(tr, site, ev, nowMs, actions) {
        const unacked = vigil.model.UNACKED.has(ev.state);
        tr.dataset.site = site.id;
        tr.dataset.alarm = ev.alarm;
        tr.dataset.state = ev.state;
        tr.className = `prio-${ev.priority} state-${ev.state}` + (unacked ? " unacked" : "");
        const vals = {
            priority: t("prio_" + ev.priority), state: t("state_" + ev.state), type: t("type_" + ev.type),
            zone: ev.zone || "—", point: ev.point || ev.device || "—", value: fmtValue(ev),
            time: t("time_age", { time: fmtTime(ev.ts), age: fmtAge(Math.floor((nowMs - Date.parse(ev.ts)) / 1000)) }),
            text: ev.text || "",
        };
        CELLS.forEach((c, i) => { if (tr.cells[i].textContent !== vals[c]) tr.cells[i].textContent = vals[c]; });
        tr.querySelector("button.ack").disabled = !unacked;
        tr.querySelector("button.shelve").hidden = ev.state === "shelved";
        tr.querySelector("button.unshelve").hidden = ev.state !== "shelved" || !actions.canArm();
    }

    /*
     * A message the site did not sign is the console's own alarm, one row per
     * topic, until the guard acknowledges it here (it goes to no site).
     */
    function forgeryRow(site, f, actions) {
        const tr = el("tr", "site-alarm forgery unacked");
        tr.dataset.forgery = `${site.id}/${f.suffix}`;
        tr.dataset.site = site.id;
        const text = t("forged_alarm", { site: site.id, topic: f.suffix }) + " " + t("forged_why_" + f.why) + " " +
            t("forged_seen", { count: f.count, time: fmtTime(f.lastMs) }) + " " + t("forged_todo");
        const td = el("td", null, text);
        td.colSpan = CELLS.length;
        const act = el("td", "c-actions");
        act.append(button(t("ack"), () => actions.ackForgery(site.id, f.suffix), "ack"));
        tr.append(td, act);
        return tr;
    }

    /* A silent or offline site is itself an alarm, at the top of the list; forgeries come next. */
    function siteAlarmRows(model, nowMs, actions) {
        const rows = [];
        for (const s of model.sites.values()) {
            const h = model.health(s, nowMs);
            if (h.state !== "offline" && h.state !== "silent") continue;
            const tr = el("tr", "site-alarm unacked");
            tr.dataset.siteAlarm = s.id;
            const td = el("td", null, t("site_alarm_" + h.state, { site: s.id, age: fmtAge(h.ageS) }));
            td.colSpan = CELLS.length + 1;
            tr.append(td);
            rows.push(tr);
        }
        for (const { site, f } of model.forgeries())
            rows.push(forgeryRow(site, f, actions));
        return rows;
    }

    function renderAlarms(model, nowMs, actions, rows) {
        const body = document.getElementById("alarm-rows");
        const list = model.sortedAlarms();
        const wanted = siteAlarmRows(model, nowMs, actions);
        const live = new Set();
        for (const { site, ev } of list) {
            const key = site.id + "/" + ev.alarm;
            live.add(key);
            if (!rows.has(key)) rows.set(key, alarmRow(key, actions));
            fillAlarmRow(rows.get(key), site, ev, nowMs, actions);
            wanted.push(rows.get(key));
        }
        for (const key of [...rows.keys()]) if (!live.has(key)) rows.delete(key);
        /* Site rows are made afresh each time: equal text counts as the same row. */
        const sameRow = (r, old) => old === r || (r.classList.contains("site-alarm") && old.textContent === r.textContent);
        const same = wanted.length === body.children.length && wanted.every((r, i) => sameRow(r, body.children[i]));
        if (!same) body.replaceChildren(...wanted);
        document.getElementById("alarm-count").textContent = String(list.length);
        document.getElementById("no-alarms").hidden = wanted.length > 0;
    }

    /* ---- recent events and results -------------------------------------------------- */

    function eventItem(site, item) {
        if (item.notice === "gap")
            return el("li", "notice gap", t("events_missing", { site: site.id, first: item.first, last: item.last }));
        if (item.notice === "epoch")
            return el("li", "notice epoch", t("history_lost", { site: site.id, time: fmtTime(item.ts) }));
        if (item.notice === "forged")
            return el("li", "notice forged", t("forged_alarm", { site: site.id, topic: item.suffix }) + " " + t("forged_why_" + item.why));
        if (item.notice === "suspicious")
            return el("li", "notice suspicious", t("seq_suspicious", { site: site.id, seq: item.seq, mark: item.mark }));
        const ev = item.ev;
        const li = el("li", `prio-${ev.priority}`);
        li.append(el("span", "ev-time", fmtTime(ev.ts)), el("span", "ev-seq", "#" + ev.seq),
            el("span", "ev-site", site.id), el("span", "ev-text", ev.text || ev.alarm));
        return li;
    }

    function renderEvents(model) {
        const all = [];
        for (const s of model.sites.values())
            s.recent.forEach((item, i) => all.push({ s, item, ts: Date.parse(item.ts || (item.ev && item.ev.ts)) || 0, i }));
        all.sort((a, b) => b.ts - a.ts || a.i - b.i);
        document.getElementById("event-list").replaceChildren(...all.slice(0, 60).map((x) => eventItem(x.s, x.item)));
    }

    function renderResults(results) {
        const items = results.map((r) => {
            const li = el("li", r.state);
            li.dataset.id = r.cmd.id;
            li.dataset.state = r.state;
            const target = r.cmd.alarm || r.cmd.zone;
            let text = t("result_" + r.state, { op: t("op_" + r.cmd.op), target, site: r.site });
            if (r.state === "refused")
                text += " " + t("refused_said", { error: r.error }) + " " + t(vigil.commands.explain(r.error));
            li.textContent = text;
            return li;
        });
        document.getElementById("result-list").replaceChildren(...items);
    }

    vigil.view = { renderSites, renderAlarms, renderEvents, renderResults, fmtAge, fmtTime };
})(window.vigil = window.vigil || {});
