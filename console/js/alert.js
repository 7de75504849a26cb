/*
 * alert.js - getting the guard's attention: a beep made by WebAudio (no
 * sound file to ship or lose), repeated while a critical or high alarm is
 * unacknowledged; a mute that lasts for this page only (a reload sounds
 * again) and is always shown; a browser notification when the tab is hidden.
 *
 * Browsers start audio only after the user has touched the page: until
 * then the indicator says the sound is blocked and asks for a click, so a
 * console that cannot beep never looks as if it could.
 */
"use strict";
(function (vigil) {
    const PERIOD_MS = 1500;
    let ctx = null;
    let timer = null;
    let muted = false;
    let wanted = false;

    function audio() {
        if (!ctx && (window.AudioContext || window.webkitAudioContext))
            ctx = new (window.AudioContext || window.webkitAudioContext)();
        return ctx;
    }

    /* Two short tones, high then low: the pattern of an alarm, not of a chat message. */
    function beep() {
        const a = audio();
        if (!a || a.state !== "running")
            return;
        [[988, 0], [740, 0.2]].forEach(([hz, at]) => {
            const osc = a.createOscillator(), gain = a.createGain();
            osc.type = "square";
            osc.frequency.value = hz;
            gain.gain.setValueAtTime(0.25, a.currentTime + at);
            gain.gain.exponentialRampToValueAtTime(0.001, a.currentTime + at + 0.18);
            osc.connect(gain).connect(a.destination);
            osc.start(a.currentTime + at);
            osc.stop(a.currentTime + at + 0.19);
        });
    }

    /* "sounding", "muted", "blocked" (the browser holds audio back) or "quiet". */
    function state() {
        if (!wanted) return "quiet";
        if (muted) return "muted";
        const a = audio();
        return a && a.state === "running" ? "sounding" : "blocked";
    }

    function update() {
        const run = wanted && !muted;
        if (run && !timer) {
            beep();
            timer = setInterval(beep, PERIOD_MS);
        } else if (!run && timer) {
            clearInterval(timer);
            timer = null;
        }
    }

    /* SOUND: true while an alarm calls for it. */
    function setWanted(sound) {
        wanted = sound;
        update();
    }

    function toggleMute() {
        muted = !muted;
        update();
        return muted;
    }

    /* Called from a click or key press: the gesture the browser wants before it plays. */
    function unlock() {
        const a = audio();
        if (a && a.state === "suspended")
            return a.resume();
        return Promise.resolve();
    }

    function notify(title, body) {
        if (!document.hidden || !window.Notification || Notification.permission !== "granted")
            return;
        new Notification(title, { body, requireInteraction: true, tag: title + body });
    }

    function askNotifications() {
        if (window.Notification && Notification.permission === "default")
            Notification.requestPermission();
    }

    vigil.alert = { setWanted, toggleMute, unlock, state, notify, askNotifications, isMuted: () => muted };
})(window.vigil = window.vigil || {});
