/*
 * commands.js - operator commands as docs/commands.md specifies them: the
 * canonical form that is signed, the command JSON, and the words that
 * explain a refusal to the guard who gave it.
 */
"use strict";
(function (vigil) {
    let counter = 0;

    /* The ten signed lines, byte for byte as docs/commands.md lists them. */
    function canonical(site, c) {
        return ["vigil-cmd-v1", `site=${site}`, `id=${c.id}`, `op=${c.op}`,
            `target=${c.alarm ?? c.zone}`, `operator=${c.operator}`, `ts=${c.ts}`,
            `duration_s=${c.duration_s ?? ""}`, `force=${c.force === undefined ? "" : c.force}`,
            `comment=${c.comment ?? ""}`].join("\n") + "\n";
    }

    /* A fresh id: 1-63 bytes of A-Z a-z 0-9 . _ : - , unique per console tab. */
    function newId() {
        counter += 1;
        const rnd = Math.floor(Math.random() * 0x100000).toString(36);
        return `con-${Date.now().toString(36)}-${rnd}-${counter}`;
    }

    /*
     * Builds the command for OP on TARGET ({alarm} or {zone}) with EXTRA keys
     * (comment, duration_s, force), always with ts (a console must send it:
     * a command queued while the site is away must not act an hour later),
     * signed when the operator has a key. Line breaks would be refused by the
     * gate: they are turned into spaces here.
     */
    async function build(site, key, operatorName, op, target, extra) {
        const c = { id: newId(), op, ...target, operator: key ? key.name : operatorName, ts: new Date().toISOString() };
        for (const [k, v] of Object.entries(extra || {}))
            if (v !== undefined && v !== "")
                c[k] = typeof v === "string" ? v.replace(/[\r\n]+/g, " ") : v;
        if (key)
            c.sig = await vigil.keys.sign(key, canonical(site, c));
        return c;
    }

    /* The i18n key of the sentence that explains an error text from vigil (docs/commands.md "Refusals"). */
    function explain(error) {
        const rules = [
            [/^bad signature/, "why_bad_signature"],
            [/is not signed/, "why_unsigned"],
            [/^unknown operator/, "why_unknown_operator"],
            [/\) may not /, "why_role"],
            [/^command expired|in the future/, "why_clock"],
            [/already used/, "why_replay"],
            [/^too many commands/, "why_flood"],
            [/shelve/, "why_shelve"],
            [/^unknown (alarm|zone)/, "why_unknown_target"],
        ];
        for (const [re, key] of rules)
            if (re.test(error || ""))
                return key;
        return "why_other";
    }

    vigil.commands = { canonical, build, explain };
})(window.vigil = window.vigil || {});
