/*
 * main.js - the console page: reads console.json, connects to the broker
 * over WebSockets, feeds every message to the model, draws it, keeps the
 * alerts in step and sends the operator's commands.
 *
 * The broker is the page's own origin unless console.json names one: a
 * Mosquitto websockets listener with http_dir serves the page and speaks
 * MQTT on the same port, so a site needs no other server.
 *
 * A site with a public key in console.json has every payload checked
 * against it (verify.js) before the model sees it; what the site did not
 * sign raises the console's own alarm instead of changing the screen.
 */
"use strict";
(function (vigil) {
    const t = (k, v) => vigil.i18n.t(k, v);
    const RESULTS_MAX = 8;
    const RESULT_WAIT_MS = 15000;
    const SHELVE_CHOICES_S = [300, 900, 1800, 3600, 7200, 14400, 28800, 86400];
    const DEFAULT_MAX_SHELVE_S = { critical: 3600, high: 14400, medium: 86400, low: 86400 };

    const S = {
        cfg: null, model: null, client: null, key: null, connected: false,
        rows: new Map(), results: [], renderQueued: false, healthSeen: new Map(),
        siteKeys: new Map(), chains: new Map(),
    };

    /* A "sites" entry: a site id, or {id, public_key} for a site whose signatures are checked. */
    function siteEntry(s) {
        return typeof s === "string" ? { id: s } : { id: String((s && s.id) || ""), public_key: s && s.public_key };
    }

    async function loadConfig() {
        const res = await fetch("console.json", { cache: "no-cache" });
        const cfg = await res.json();
        cfg.prefix = cfg.prefix || "vigil";
        cfg.sites = Array.isArray(cfg.sites) ? cfg.sites.map(siteEntry) : [];
        cfg.siteIds = cfg.sites.map((s) => s.id);
        cfg.heartbeat_s = cfg.heartbeat_s || 60;
        cfg.max_shelve_s = { ...DEFAULT_MAX_SHELVE_S, ...(cfg.max_shelve_s || {}) };
        if (!cfg.broker)
            cfg.broker = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/mqtt`;
        return cfg;
    }

    /*
     * Imports each site's public key into S.siteKeys; returns the model's
     * trust map: "verified", or "bad-key" for a key WebCrypto cannot take
     * (mistyped, or a page not in a secure context), whose site is then shown
     * with nothing but that warning rather than unchecked.
     */
    async function loadSiteKeys(sites) {
        const trust = new Map();
        for (const s of sites.filter((x) => x.public_key !== undefined)) {
            try {
                S.siteKeys.set(s.id, await vigil.verify.importKey(s.public_key));
                trust.set(s.id, "verified");
            } catch (e) {
                trust.set(s.id, "bad-key");
            }
        }
        return trust;
    }

    /* ---- drawing -------------------------------------------------------------------- */

    function render() {
        S.renderQueued = false;
        const now = Date.now();
        const actions = { ack, shelve, unshelve, arm, canArm, ackForgery };
        vigil.view.renderSites(S.model, now, actions);
        vigil.view.renderAlarms(S.model, now, actions, S.rows);
        vigil.view.renderEvents(S.model);
        vigil.view.renderResults(S.results);
        updateAlerts(now);
        renderHeader();
    }

    /* setTimeout, not requestAnimationFrame: a hidden tab must still keep its state and alerts current. */
    function scheduleRender() {
        if (!S.renderQueued) {
            S.renderQueued = true;
            setTimeout(render, 30);
        }
    }

    function renderHeader() {
        const op = document.getElementById("operator");
        op.textContent = S.key ? t("operator_is", { name: S.key.name, role: t("role_" + S.key.role) }) : t("no_key");
        op.classList.toggle("warn", !S.key);
        const snd = document.getElementById("sound");
        const st = vigil.alert.state();
        snd.dataset.state = st;
        snd.textContent = t("sound_" + st);
        const banner = document.getElementById("banner");
        banner.hidden = S.connected;
        banner.textContent = t(S.everConnected ? "broker_lost" : "broker_connecting", { url: S.cfg.broker });
    }

    /* Sound while a critical/high alarm is unacknowledged or a site is silent; a notice for each new one. */
    function updateAlerts(now) {
        let siteDown = false;
        for (const site of S.model.sites.values()) {
            const h = S.model.health(site, now).state;
            const before = S.healthSeen.get(site.id);
            if ((h === "offline" || h === "silent") && before !== h)
                vigil.alert.notify(t("notify_site", { site: site.id }), t("site_alarm_" + h, { site: site.id, age: "" }));
            S.healthSeen.set(site.id, h);
            siteDown = siteDown || h === "offline" || h === "silent";
        }
        vigil.alert.setWanted(siteDown || S.model.soundingAlarms().length > 0 || S.model.forgeries().length > 0);
    }

    /* The guard has seen the console's forgery alarm: it stops sounding and leaves the list. */
    function ackForgery(site, suffix) {
        vigil.alert.unlock();
        S.model.ackForgery(site, suffix);
        scheduleRender();
    }

    /* ---- MQTT ----------------------------------------------------------------------- */

    /*
     * Runs FN after everything queued for site ID: a signature check takes a
     * while, and a site's messages must reach the model in the order they came
     * (an older status or alarm state never lands after a newer one). Each
     * site has its chain, so one site's checks never hold back another's.
     */
    function queue(id, fn) {
        const next = (S.chains.get(id) || Promise.resolve()).then(fn)
            .catch((e) => console.error(`vigil: site ${id}:`, e));
        S.chains.set(id, next);
    }

    function onMessage(topic, buf, packet) {
        const nowMs = Date.now();
        const where = S.model.split(topic);
        if (!where) return;
        const [site, suffix] = where;
        const bytes = new Uint8Array(buf);
        queue(site.id, () => take(site, topic, suffix, bytes, packet.retain, nowMs));
    }

    async function take(site, topic, suffix, bytes, retained, nowMs) {
        if (site.trust === "bad-key") return;       /* its card says that nothing of it can be checked */
        const verdict = await vigil.verify.judge(S.siteKeys.get(site.id), site.id, suffix, bytes);
        const out = S.model.apply(topic, new TextDecoder().decode(bytes), retained, nowMs, verdict);
        if (!out) return;
        if (out.forged && out.forged.count === 1)
            vigil.alert.notify(t("notify_site", { site: site.id }), t("forged_alarm", { site: site.id, topic: suffix }));
        if (out.result) takeResult(out.site, out.result);
        const ev = out.raised;
        if (ev && vigil.model.UNACKED.has(ev.state) && (ev.priority === "critical" || ev.priority === "high"))
            vigil.alert.notify(t("notify_alarm", { site: out.site.id, prio: t("prio_" + ev.priority) }), ev.text || ev.alarm);
        scheduleRender();
    }

    /*
     * On every (re)connect the retained state is taken afresh: what was
     * deleted while the console was away (an alarm back to normal) would
     * otherwise stay on screen, since a deletion is not retained.
     */
    function onConnect() {
        S.connected = S.everConnected = true;
        for (const site of S.model.sites.values())
            queue(site.id, () => { for (const m of [site.alarms, site.zones, site.devices, site.outputs]) m.clear(); });
        const ids = S.cfg.siteIds;
        const filters = ids.length ? ids.map((s) => `${S.cfg.prefix}/${s}/#`) : [`${S.cfg.prefix}/+/#`];
        S.client.subscribe(filters, { qos: 1 });
        scheduleRender();
    }

    function connect() {
        S.client = mqtt.connect(S.cfg.broker, {
            clientId: "vigil-console-" + Math.random().toString(36).slice(2, 10),
            clean: true, protocolVersion: 4, reconnectPeriod: 2000, connectTimeout: 5000, keepalive: 10,
        });
        S.client.on("connect", onConnect);
        S.client.on("message", onMessage);
        for (const e of ["close", "offline", "error"])
            S.client.on(e, () => { S.connected = S.client.connected; scheduleRender(); });
    }

    /* ---- commands --------------------------------------------------------------------- */

    /* Arm, disarm and unshelve are an officer's (docs/commands.md); without a key the site decides. */
    function canArm() {
        return !S.key || S.key.role === "officer";
    }

    function takeResult(site, res) {
        const r = S.results.find((x) => x.cmd.id === res.id && x.site === site.id);
        if (!r) return;
        r.state = res.ok ? "ok" : "refused";
        r.error = res.error || "";
    }

    async function send(site, op, target, extra, operatorName) {
        const cmd = await vigil.commands.build(site, S.key, operatorName, op, target, extra);
        const r = { site, cmd, state: "pending", error: "" };
        S.results.unshift(r);
        S.results.length = Math.min(S.results.length, RESULTS_MAX);
        S.client.publish(`${S.cfg.prefix}/${site}/cmd`, JSON.stringify(cmd), { qos: 1 });
        setTimeout(() => { if (r.state === "pending") { r.state = "waiting"; scheduleRender(); } }, RESULT_WAIT_MS);
        scheduleRender();
    }

    /* Opens the action dialog; resolves with {operator, comment, duration_s, force} or null. */
    function ask(title, target, opts) {
        const dlg = document.getElementById("action-dialog");
        document.getElementById("dlg-title").textContent = title;
        document.getElementById("dlg-target").textContent = target;
        document.getElementById("dlg-operator-row").hidden = !!S.key;
        document.getElementById("dlg-operator").value = sessionStorage.getItem("vigil-operator") || "";
        document.getElementById("dlg-comment").value = "";
        document.getElementById("dlg-force").checked = false;
        document.getElementById("dlg-force-row").hidden = !opts.force;
        const sel = document.getElementById("dlg-duration");
        sel.replaceChildren(...(opts.durations || []).map((s) => new Option(vigil.view.fmtAge(s), String(s))));
        document.getElementById("dlg-duration-row").hidden = !opts.durations;
        return new Promise((resolve) => {
            dlg.addEventListener("close", () => {
                if (dlg.returnValue !== "ok") return resolve(null);
                const operator = document.getElementById("dlg-operator").value.trim();
                if (operator) sessionStorage.setItem("vigil-operator", operator);
                resolve({ operator, comment: document.getElementById("dlg-comment").value.trim(),
                    duration_s: opts.durations ? Number(sel.value) : undefined,
                    force: opts.force ? document.getElementById("dlg-force").checked : undefined });
            }, { once: true });
            dlg.returnValue = "";
            dlg.showModal();
            (S.key ? document.getElementById("dlg-comment") : document.getElementById("dlg-operator")).focus();
        });
    }

    function alarmOf(site, alarm) {
        const s = S.model.sites.get(site);
        return s && s.alarms.get(alarm);
    }

    async function ack(site, alarm) {
        vigil.alert.unlock();
        const a = await ask(t("ack_title"), `${site}: ${(alarmOf(site, alarm) || {}).text || alarm}`, {});
        if (a) await send(site, "ack", { alarm }, { comment: a.comment }, a.operator);
    }

    async function shelve(site, alarm) {
        const ev = alarmOf(site, alarm) || {};
        const max = S.cfg.max_shelve_s[ev.priority] || DEFAULT_MAX_SHELVE_S.low;
        const a = await ask(t("shelve_title"), `${site}: ${ev.text || alarm}`, { durations: SHELVE_CHOICES_S.filter((s) => s <= max) });
        if (a) await send(site, "shelve", { alarm }, { duration_s: a.duration_s, comment: a.comment }, a.operator);
    }

    async function unshelve(site, alarm) {
        const a = await ask(t("unshelve_title"), `${site}: ${(alarmOf(site, alarm) || {}).text || alarm}`, {});
        if (a) await send(site, "unshelve", { alarm }, { comment: a.comment }, a.operator);
    }

    async function arm(site, zone, arming) {
        const a = await ask(t(arming ? "arm_title" : "disarm_title"), `${site}: ${zone}`, { force: arming });
        if (a) await send(site, arming ? "arm" : "disarm", { zone }, { force: a.force, comment: a.comment }, a.operator);
    }

    /* ---- page ------------------------------------------------------------------------ */

    function setNight(on) {
        document.body.classList.toggle("night", on);
        localStorage.setItem("vigil-night", on ? "1" : "0");
    }

    /* M mutes, N switches night mode, Enter on an alarm row acknowledges it. */
    function onKey(e) {
        vigil.alert.unlock();
        if (e.target.closest("input, textarea, select, dialog") || e.ctrlKey || e.metaKey || e.altKey) return;
        if (e.key === "m" || e.key === "M") { vigil.alert.toggleMute(); scheduleRender(); }
        else if (e.key === "n" || e.key === "N") setNight(!document.body.classList.contains("night"));
        else if (e.key === "Enter" && e.target.matches("tr[data-alarm]") && !e.target.querySelector("button.ack").disabled) {
            e.preventDefault();     /* else the same Enter submits the dialog it opens */
            ack(e.target.dataset.site, e.target.dataset.alarm);
        }
    }

    function wirePage() {
        document.getElementById("sound").addEventListener("click", () => {
            vigil.alert.unlock().then(() => {
                if (vigil.alert.state() !== "blocked") vigil.alert.toggleMute();
                scheduleRender();
            });
        });
        document.getElementById("night").addEventListener("click", () => setNight(!document.body.classList.contains("night")));
        const lang = document.getElementById("lang");
        lang.value = vigil.i18n.current();
        lang.addEventListener("change", async () => {
            try {
                await vigil.i18n.load(lang.value);
            } catch (e) {
                lang.value = vigil.i18n.current();      /* texts not reachable (the server is away): keep these */
                return;
            }
            localStorage.setItem("vigil-lang", lang.value);
            S.rows.clear();
            document.getElementById("alarm-rows").replaceChildren();
            render();
        });
        document.addEventListener("click", () => { vigil.alert.unlock().then(scheduleRender); vigil.alert.askNotifications(); });
        document.addEventListener("keydown", onKey);
        setNight(localStorage.getItem("vigil-night") === "1");
        setInterval(render, 1000);
    }

    async function start() {
        S.cfg = await loadConfig();
        await vigil.i18n.load(localStorage.getItem("vigil-lang") || S.cfg.language || "en");
        S.model = new vigil.model.Model(S.cfg.prefix, S.cfg.siteIds, S.cfg.heartbeat_s, await loadSiteKeys(S.cfg.sites));
        try { S.key = await vigil.keys.load(); } catch (e) { S.key = null; }
        wirePage();
        render();
        connect();
    }

    start();
})(window.vigil = window.vigil || {});
