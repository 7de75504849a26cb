/*
 * enrol.js - the enrolment page: makes the operator's key pair in this
 * browser (keys.js) and shows the public key line for the site config.
 * Making a new key replaces the old one on this computer.
 */
"use strict";
(function (vigil) {
    const t = (k, v) => vigil.i18n.t(k, v);

    function show(rec) {
        document.getElementById("have").textContent = rec ?
            t("enrol_have", { name: rec.name, role: t("role_" + rec.role), when: new Date(rec.enrolled).toLocaleString() }) :
            t("enrol_none");
        document.getElementById("line-box").hidden = !rec;
        document.getElementById("config-line").textContent = rec ? vigil.keys.configLine(rec) : "";
        if (rec) {
            document.getElementById("name").value = rec.name;
            document.getElementById("role").value = rec.role;
        }
    }

    async function make(e) {
        e.preventDefault();
        const err = document.getElementById("error");
        err.textContent = "";
        try {
            show(await vigil.keys.enrol(document.getElementById("name").value.trim(), document.getElementById("role").value));
        } catch (ex) {
            err.textContent = ex.message === "no-webcrypto" ? t("enrol_no_webcrypto") : String(ex);
        }
    }

    async function start() {
        await vigil.i18n.load(localStorage.getItem("vigil-lang") || "en");
        document.body.classList.toggle("night", localStorage.getItem("vigil-night") === "1");
        document.getElementById("enrol-form").addEventListener("submit", make);
        document.getElementById("forget").addEventListener("click", async () => { await vigil.keys.forget(); show(null); });
        if (!window.crypto || !crypto.subtle)
            document.getElementById("error").textContent = t("enrol_no_webcrypto");
        show(await vigil.keys.load());
    }

    start();
})(window.vigil = window.vigil || {});
