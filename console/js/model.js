/*
 * model.js - what the console knows about each site, built only from the
 * MQTT messages it is handed and the time it is told (no DOM, no clock, no
 * network), so the rules a guard relies on - which alarms need attention,
 * their order, missing events, a silent site - live in one place.
 *
 * docs/mqtt.md is the contract: events carry (epoch, seq); the retained
 * alarms/ tree lists exactly the alarms that need attention; status carries
 * the heartbeat period. A site whose public key the console has (trust
 * "verified") signs every payload: the caller checks the signature (verify.js) and says
 * what it found; a payload the site did not sign is never taken as its
 * state but kept as an alarm of the console's own, as vigilctl watch does.
 */
"use strict";
(function (vigil) {
    const PRIORITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
    const ATTENTION = new Set(["active_unacked", "active_acked", "rtn_unacked", "shelved", "out_of_service"]);
    const UNACKED = new Set(["active_unacked", "rtn_unacked"]);
    const RECENT_MAX = 60;          /* events kept for the "recent events" list */
    const GAPS_MAX = 16;            /* open gaps remembered per site, to take late events */
    const FORGERIES_MAX = 16;       /* topics with an unacknowledged forgery kept per site */
    const MAX_HEARTBEAT_S = 3600;   /* a status claiming longer is judged by this: a forged one cannot buy days */
    const SEQ_JUMP_MAX = 1000000;   /* an event further ahead is shown, not trusted as the mark */
    const FORGED = new Set(["unsigned", "forged"]);
    /* The site's own topics; others under it (cmd, receipt) are the station's and consoles' and not read. */
    const SITE_KINDS = new Set(["events", "status", "cmd/result", "alarms", "zones", "devices", "outputs"]);

    /* trust: "verified" (its signatures are checked), "none" (no key) or "bad-key" (console.json's key is unusable). */
    function newSite(id, trust) {
        return {
            id, trust, status: null, statusSeenMs: 0,
            forgeries: new Map(),   /* topic suffix -> {suffix, why, count, firstMs, lastMs}: not yet acknowledged */
            alarms: new Map(), zones: new Map(), devices: new Map(), outputs: new Map(),
            recent: [],             /* newest first: {ev} or {notice} */
            mark: null, epoch: undefined, gaps: [],
        };
    }

    /* An alarm payload is newer than another unless both carry a seq of the same epoch and it is lower. */
    function isNewer(ev, old) {
        if (!old || ev.epoch !== old.epoch || typeof ev.seq !== "number" || typeof old.seq !== "number")
            return true;
        return ev.seq >= old.seq;
    }

    function pushRecent(site, item) {
        site.recent.unshift(item);
        if (site.recent.length > RECENT_MAX)
            site.recent.length = RECENT_MAX;
    }

    /* A late event fills (part of) an open gap: true if seq was in one. */
    function fillGap(site, seq) {
        for (let i = 0; i < site.gaps.length; i++) {
            const g = site.gaps[i];
            if (seq < g.first || seq > g.last)
                continue;
            const parts = [];
            if (seq > g.first) parts.push({ first: g.first, last: seq - 1 });
            if (seq < g.last) parts.push({ first: seq + 1, last: g.last });
            site.gaps.splice(i, 1, ...parts);
            return true;
        }
        return false;
    }

    /*
     * The (epoch, seq) rule of docs/mqtt.md: returns "new", "late", "dup" or
     * "suspicious" (a seq so far beyond the mark that taking it would make
     * every later real event a duplicate: shown, the mark kept).
     * A new epoch means the site lost its history (state directory): its seq
     * starts again, so the mark is reset and the guard is told when.
     * Events without an epoch (older vigild) are compared by seq alone.
     */
    function trackSeq(site, ev) {
        if (site.epoch === undefined && ev.epoch !== undefined && site.mark !== null)
            site.epoch = ev.epoch;  /* an upgraded vigild starts to send its epoch: the same history */
        if (site.mark !== null && ev.epoch !== undefined && site.epoch !== undefined && ev.epoch !== site.epoch) {
            pushRecent(site, { notice: "epoch", ts: ev.ts, epoch: ev.epoch });
            site.gaps = [];
        } else if (site.mark !== null && ev.seq <= site.mark) {
            return fillGap(site, ev.seq) ? "late" : "dup";
        } else if (site.mark !== null && ev.seq > site.mark + SEQ_JUMP_MAX) {
            pushRecent(site, { notice: "suspicious", seq: ev.seq, mark: site.mark, ts: ev.ts });
            return "suspicious";
        } else if (site.mark !== null && ev.seq > site.mark + 1) {
            const gap = { first: site.mark + 1, last: ev.seq - 1 };
            site.gaps.push(gap);
            if (site.gaps.length > GAPS_MAX) site.gaps.shift();
            pushRecent(site, { notice: "gap", first: gap.first, last: gap.last, ts: ev.ts });
        }
        site.mark = ev.seq;
        if (ev.epoch !== undefined) site.epoch = ev.epoch;
        return "new";
    }

    /* Keeps the alarm list in step with one alarm payload (retained topic or event). */
    function applyAlarmState(site, id, ev) {
        const old = site.alarms.get(id);
        if (ev && !isNewer(ev, old))
            return null;
        if (ev && ATTENTION.has(ev.state)) {
            site.alarms.set(id, ev);
            return old && old.state === ev.state ? null : ev;
        }
        site.alarms.delete(id);
        return null;
    }

    function parseJSON(text) {
        try {
            const v = JSON.parse(text);
            return v && typeof v === "object" ? v : null;
        } catch (e) {
            return null;
        }
    }

    /*
     * Keeps one forgery per topic, newest last, until the guard acknowledges
     * it: a forger repeating himself counts up one row, not a flood of them.
     */
    function recordForgery(site, suffix, why, nowMs) {
        const f = site.forgeries.get(suffix) || { suffix, why, count: 0, firstMs: nowMs };
        site.forgeries.delete(suffix);
        site.forgeries.set(suffix, { ...f, why, count: f.count + 1, lastMs: nowMs });
        if (site.forgeries.size > FORGERIES_MAX)
            site.forgeries.delete(site.forgeries.keys().next().value);
        pushRecent(site, { notice: "forged", suffix, why, ts: new Date(nowMs).toISOString() });
        return site.forgeries.get(suffix);
    }

    class Model {
        /*
         * siteIds: the sites to show; empty: every site that appears under
         * prefix. trust: site id -> "verified" or "bad-key"; a site not in it
         * has no key ("none").
         */
        constructor(prefix, siteIds, defaultHeartbeatS, trust = new Map()) {
            this.prefix = prefix;
            this.fixed = siteIds.length > 0;
            this.sites = new Map(siteIds.map((id) => [id, newSite(id, trust.get(id) || "none")]));
            this.defaultHeartbeatS = defaultHeartbeatS;
        }

        /* "<prefix>/<site>/<rest>" -> [site, rest], or null for a topic not ours. */
        split(topic) {
            if (!topic.startsWith(this.prefix + "/"))
                return null;
            const rest = topic.slice(this.prefix.length + 1);
            const slash = rest.indexOf("/");
            if (slash <= 0)
                return null;
            const id = rest.slice(0, slash);
            if (!this.sites.has(id)) {
                if (this.fixed) return null;
                this.sites.set(id, newSite(id, "none"));
            }
            return [this.sites.get(id), rest.slice(slash + 1)];
        }

        /*
         * Takes one MQTT message and the verdict on its signature (verify.js
         * judge(): "none" for a site without a key); returns what the screen
         * and the alerts need to know: {site, event (a new event), raised (an
         * alarm that newly needs attention), result (a command result),
         * forged (a forgery the console raised)}, or null. A payload the site
         * did not sign, or one naming another site than its topic, changes
         * nothing of the site's state.
         */
        apply(topic, text, retained, nowMs, verdict = "none") {
            const where = this.split(topic);
            if (!where)
                return null;
            const [site, rest] = where;
            const out = { site };
            const slash = rest.indexOf("/");
            const kind = slash < 0 ? rest : rest.slice(0, slash);
            const id = slash < 0 ? "" : rest.slice(slash + 1);
            const payload = text === "" ? null : parseJSON(text);

            if (!SITE_KINDS.has(rest) && !SITE_KINDS.has(kind)) {
                return out;
            } else if (FORGED.has(verdict)) {
                out.forged = recordForgery(site, rest, verdict, nowMs);
            } else if (payload && payload.site !== undefined && payload.site !== site.id) {
                out.forged = recordForgery(site, rest, "site", nowMs);
            } else if (rest === "events" && payload && typeof payload.seq === "number") {
                const seen = trackSeq(site, payload);
                if (seen === "dup")
                    return out;
                pushRecent(site, { ev: payload });
                out.event = payload;
                if (seen !== "suspicious")
                    out.raised = applyAlarmState(site, payload.alarm, payload);
            } else if (rest === "status" && payload) {
                site.status = payload;
                const ts = Date.parse(payload.ts);
                /* A retained status may be old: its age counts from when it was published. */
                site.statusSeenMs = retained && !isNaN(ts) ? Math.min(ts, nowMs) : nowMs;
            } else if (rest === "cmd/result" && payload) {
                out.result = payload;
            } else if (kind === "alarms" && id) {
                out.raised = applyAlarmState(site, id, payload);
            } else if (kind === "zones" || kind === "devices" || kind === "outputs") {
                const map = site[kind];
                if (payload) map.set(id, payload); else map.delete(id);
            }
            return out;
        }

        /* online | offline | silent | unknown, with the heartbeat age in seconds. */
        health(site, nowMs) {
            if (!site.status)
                return { state: "unknown", ageS: null, heartbeatS: this.defaultHeartbeatS };
            const claimed = Number(site.status.heartbeat_s) > 0 ? Number(site.status.heartbeat_s) : this.defaultHeartbeatS;
            const hb = Math.min(claimed, MAX_HEARTBEAT_S);
            const ageS = Math.max(0, Math.floor((nowMs - site.statusSeenMs) / 1000));
            let state = site.status.state === "online" ? "online" : "offline";
            if (state === "online" && ageS > 2 * hb)
                state = "silent";
            return { state, ageS, heartbeatS: hb };
        }

        /* Every alarm that needs attention, all sites: priority first, then newest first. */
        sortedAlarms() {
            const all = [];
            for (const site of this.sites.values())
                for (const ev of site.alarms.values())
                    all.push({ site, ev });
            all.sort((a, b) => (PRIORITY_RANK[a.ev.priority] ?? 9) - (PRIORITY_RANK[b.ev.priority] ?? 9) ||
                (Date.parse(b.ev.ts) || 0) - (Date.parse(a.ev.ts) || 0));
            return all;
        }

        /* The guard acknowledges the console's forgery alarm for SITEID's topic SUFFIX. */
        ackForgery(siteId, suffix) {
            const site = this.sites.get(siteId);
            if (site) site.forgeries.delete(suffix);
        }

        /* Every forgery not yet acknowledged, all sites, oldest first: {site, f}. */
        forgeries() {
            const all = [];
            for (const site of this.sites.values())
                for (const f of site.forgeries.values())
                    all.push({ site, f });
            return all.sort((a, b) => a.f.firstMs - b.f.firstMs);
        }

        /* Alarms that call for the sound: critical or high, not yet acknowledged. */
        soundingAlarms() {
            return this.sortedAlarms().filter((a) => UNACKED.has(a.ev.state) &&
                (a.ev.priority === "critical" || a.ev.priority === "high"));
        }
    }

    vigil.model = { Model, PRIORITY_RANK, UNACKED };
})(window.vigil = window.vigil || {});
