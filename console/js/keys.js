/*
 * keys.js - the operator's signing key, kept in this browser only.
 *
 * The key pair is made by WebCrypto (Ed25519) with a non-extractable
 * private key: no script, this one included, can read it out again, so it
 * cannot leak from the page; it can only sign. The CryptoKey object itself
 * is stored in IndexedDB (the browser keeps the key material, the page
 * keeps a handle). Only the public key leaves, as the config line the site
 * engineer pastes into the site's `operators` group (docs/commands.md).
 * WebCrypto exists only in a secure context: HTTPS, or http://127.0.0.1.
 */
"use strict";
(function (vigil) {
    const DB = "vigil-console", STORE = "keys", SLOT = "operator";

    function request(req) {
        return new Promise((resolve, reject) => {
            req.onsuccess = () => resolve(req.result);
            req.onerror = () => reject(req.error);
        });
    }

    function openDb() {
        const req = indexedDB.open(DB, 1);
        req.onupgradeneeded = () => req.result.createObjectStore(STORE);
        return request(req);
    }

    async function withStore(mode, fn) {
        const db = await openDb();
        try {
            return await request(fn(db.transaction(STORE, mode).objectStore(STORE)));
        } finally {
            db.close();
        }
    }

    function toBase64(buf) {
        return btoa(String.fromCharCode(...new Uint8Array(buf)));
    }

    /* The enrolled operator {name, role, privateKey, publicKey (base64)}, or null. */
    async function load() {
        if (!window.indexedDB) return null;
        return (await withStore("readonly", (s) => s.get(SLOT))) || null;
    }

    /* Makes and stores a new key pair for NAME/ROLE (replacing any); returns the stored record. */
    async function enrol(name, role) {
        if (!window.crypto || !crypto.subtle)
            throw new Error("no-webcrypto");
        const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
        const rec = { name, role, privateKey: pair.privateKey,
            publicKey: toBase64(await crypto.subtle.exportKey("raw", pair.publicKey)), enrolled: new Date().toISOString() };
        await withStore("readwrite", (s) => s.put(rec, SLOT));
        return rec;
    }

    async function forget() {
        await withStore("readwrite", (s) => s.delete(SLOT));
    }

    /* The line for the site config's operators group. */
    function configLine(rec) {
        return `{ name = "${rec.name}"; role = "${rec.role}"; key = "${rec.publicKey}"; },`;
    }

    async function sign(rec, text) {
        return toBase64(await crypto.subtle.sign("Ed25519", rec.privateKey, new TextEncoder().encode(text)));
    }

    vigil.keys = { load, enrol, forget, configLine, sign };
})(window.vigil = window.vigil || {});
