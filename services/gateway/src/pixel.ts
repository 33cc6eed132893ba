/** The transparent 1×1 GIF every pixel hit answers with, whatever the outcome. */
export const PIXEL_GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");

/** The click cookie set by the click service on the same tracking domain (docs/tracking.md). */
export const CLICK_COOKIE = "rt_cid";

export function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/**
 * The JS snippet (`<script src="https://track.example/pixel.js" data-event="ftd" data-txid="…">`).
 * On a landing page it keeps the click ID from the URL in a first-party cookie on the
 * advertiser's own domain (which survives third-party cookie blocking); on a conversion page it
 * fires `/pixel` with that click ID, or without one so the tracking domain's own rt_cid cookie
 * decides. `window.roundtrip.conversion({ event, txid, amount, currency })` fires one by hand.
 */
export const PIXEL_JS = `(function () {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src).origin : "";
  var KEY = "${CLICK_COOKIE}";
  var ID = /^[A-Za-z0-9_-]{20,64}$/;
  function fromUrl() {
    var q = new URLSearchParams(location.search);
    var names = ["click_id", "cid", "clickid", KEY];
    for (var i = 0; i < names.length; i++) { var v = q.get(names[i]); if (v && ID.test(v)) return v; }
    return null;
  }
  function stored() {
    var m = new RegExp("(?:^|;\\\\s*)" + KEY + "=([^;]*)").exec(document.cookie);
    return m && ID.test(m[1]) ? m[1] : null;
  }
  var landed = fromUrl();
  if (landed) {
    document.cookie = KEY + "=" + landed + "; path=/; max-age=2592000; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }
  function conversion(data) {
    var q = new URLSearchParams();
    var fields = ["event", "txid", "amount", "currency", "brand", "timestamp"];
    for (var i = 0; i < fields.length; i++) { var v = data[fields[i]]; if (v !== undefined && v !== null && v !== "") q.set(fields[i], String(v)); }
    var cid = data.click_id || stored();
    if (cid) q.set("click_id", cid);
    var img = new Image(1, 1);
    img.src = base + "/pixel?" + q.toString();
    return img;
  }
  window.roundtrip = { conversion: conversion };
  var d = script && script.dataset;
  if (d && d.event) conversion({ event: d.event, txid: d.txid, amount: d.amount, currency: d.currency, brand: d.brand, click_id: d.clickId });
})();
`;
