/*
 * verify.js - the site's signature on what it publishes (docs/mqtt.md,
 * "Signed payloads"): vigild appends ,"gsig":"<base64>" to every JSON
 * payload, an Ed25519 signature over
 *   "vigil-msg-v1\n" <site> "\n" <topic suffix> "\n" <payload without gsig>
 * The console checks it with WebCrypto against the site's public key from
 * console.json, on the bytes as received (no re-encoding), exactly as
 * daemon/paysign.c psig_verify() does. No DOM: node runs it in the tests.
 */
"use strict";
(function (vigil) {
    const TAG = new TextEncoder().encode(',"gsig":"');
    const SIG_B64 = 88;                         /* base64 of 64 bytes, with padding */
    const TAIL = TAG.length + SIG_B64 + 2;      /* the tag, the signature and the closing "} */

    function fromBase64(text) {
        const bin = atob(text);
        return Uint8Array.from(bin, (c) => c.charCodeAt(0));
    }

    /* The site's public key (base64 of 32 bytes, as vigild logs it) as a CryptoKey; throws if it is not one. */
    async function importKey(b64) {
        let raw;
        try {
            raw = fromBase64(String(b64));
        } catch (e) {
            raw = null;
        }
        if (!raw || raw.length !== 32)
            throw new Error("not-a-key");
        return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    }

    function sameBytes(a, at, b) {
        return b.every((x, i) => a[at + i] === x);
    }

    /*
     * The verdict on one payload (a Uint8Array) of SITE's topic SUFFIX:
     * "none" (no key for the site: nothing is checked), "cleared" (an empty
     * payload, a retained topic deleted: it cannot carry a signature),
     * "good", "unsigned" (no gsig) or "forged" (a gsig that does not verify).
     */
    async function judge(key, site, suffix, bytes) {
        if (!key) return "none";
        const n = bytes.length;
        if (n === 0) return "cleared";
        if (n < TAIL + 2 || bytes[n - 2] !== 0x22 || bytes[n - 1] !== 0x7d) return "unsigned";
        const tagAt = n - TAIL;
        if (!sameBytes(bytes, tagAt, TAG)) return "unsigned";
        let sig;
        try {
            sig = fromBase64(new TextDecoder().decode(bytes.subarray(tagAt + TAG.length, n - 2)));
        } catch (e) {
            return "forged";
        }
        if (sig.length !== 64) return "forged";
        /* the signed payload is the received one up to the tag, closed again */
        const head = new TextEncoder().encode(`vigil-msg-v1\n${site}\n${suffix}\n`);
        const msg = new Uint8Array(head.length + tagAt + 1);
        msg.set(head);
        msg.set(bytes.subarray(0, tagAt), head.length);
        msg[msg.length - 1] = 0x7d;
        return (await crypto.subtle.verify("Ed25519", key, sig, msg)) ? "good" : "forged";
    }

    vigil.verify = { importKey, judge };
})(window.vigil = window.vigil || {});
