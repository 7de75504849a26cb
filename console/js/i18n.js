/*
 * i18n.js - every text the guard reads comes from i18n/<lang>.json, so a
 * site translates the console by adding one file. t("key", {n: 3})
 * replaces {n}; a missing key shows the key itself, so a gap in a
 * translation is visible rather than blank.
 */
"use strict";
(function (vigil) {
    let texts = {};
    let lang = "en";
    const LANGS = ["en", "bs"];

    /* Loads the texts of WANT (English if unknown); throws, keeping the current ones, if they cannot be had. */
    async function load(want) {
        const code = LANGS.includes(want) ? want : "en";
        const res = await fetch(`i18n/${code}.json`, { cache: "no-cache" });
        texts = await res.json();
        lang = code;
        document.documentElement.lang = lang;
        for (const el of document.querySelectorAll("[data-t]"))
            el.textContent = t(el.dataset.t);
        for (const el of document.querySelectorAll("[data-t-label]"))
            el.setAttribute("aria-label", t(el.dataset.tLabel));
    }

    function t(key, vars) {
        const s = texts[key] ?? key;
        return s.replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] !== undefined ? String(vars[k]) : m));
    }

    vigil.i18n = { load, t, LANGS, current: () => lang };
})(window.vigil = window.vigil || {});
