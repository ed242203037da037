// parallel-runs dashboard: live updates by short polling (no library, no CDN).
// #live[data-poll] names a JSON endpoint of the API; when its "version" changes, the page's live
// part is fetched again (?fragment=1, rendered and escaped by the server) or the page reloads; polling
// stops once "live" is false. Each <pre class="log" data-log> follows one attempt's output.
"use strict";
(function () {
  var POLL_MS = 1000;

  function withFragment(href) {
    var url = new URL(href, window.location.href);
    url.searchParams.set("fragment", "1");
    return url.toString();
  }

  function pollLive(box) {
    var version = null;
    var reload = box.dataset.reload === "true";
    function tick() {
      fetch(box.dataset.poll, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (doc) {
          if (!doc) { setTimeout(tick, POLL_MS * 3); return; }
          var changed = version !== null && doc.version !== version;
          version = doc.version;
          var again = function () { if (doc.live) { setTimeout(tick, POLL_MS); } else { box.dataset.live = "false"; } };
          if (!changed) { again(); return; }
          if (reload) { window.location.reload(); return; }
          fetch(withFragment(window.location.href), { credentials: "same-origin", cache: "no-store" })
            .then(function (r) { return r.text(); })
            .then(function (html) { box.innerHTML = html; again(); }, again);
        }, function () { setTimeout(tick, POLL_MS * 3); });
    }
    if (box.dataset.live === "true") { tick(); }
  }

  function followLog(pre) {
    var offset = 0, start = null;  // the next piece: from `offset` in the part that begins at `start`
    function tick() {
      var url = new URL(pre.dataset.log, window.location.href);
      url.searchParams.set("offset", String(offset));
      if (start !== null) { url.searchParams.set("start", String(start)); }
      fetch(url.toString(), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : r.json().then(function (e) { throw e; }); })
        .then(function (piece) {
          if (piece.text) { pre.appendChild(document.createTextNode(piece.text)); }
          offset = piece.offset;
          if (piece.start !== null && piece.start !== undefined) { start = piece.start; }
          pre.dataset.note = piece.note || "";
          if (piece.over) { pre.dataset.over = "true"; return; }
          setTimeout(tick, piece.text ? 50 : POLL_MS);
        }, function (e) {
          pre.dataset.note = (e && e.error) || "cannot read the log";
          pre.dataset.over = "true";
        });
    }
    tick();
  }

  function autoFilter(form) {
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("live");
    if (box && box.dataset.poll) { pollLive(box); }
    document.querySelectorAll("pre.log[data-log]").forEach(followLog);
    document.querySelectorAll("form.filters").forEach(autoFilter);
  });
})();
