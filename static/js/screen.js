/* Big-screen mode (a hall display, nobody at the keyboard).

   - Polls the small state endpoint; when a new ranking snapshot exists (or the rankings
     start or stop being updated), fetches the board and figures and swaps them in without
     reloading, and announces who moved up ("贺志远 升至第4名").
   - Says how fresh it is: "data as of HH:MM:SS" (the last poll that reached the server),
     and after two failed polls a clear "connection lost" over the page, which clears itself
     when a poll succeeds again. An expired login goes to the login page instead of leaving
     a silently frozen board.
   - TV mode (data-tv): rotates through the views the server lists (each metric's officials
     page by page, then the counties), one every data-rotate-ms. */
(function () {
  "use strict";

  var root = document.getElementById("screen");
  if (!root) { return; }
  var POLL_MS = parseInt(root.getAttribute("data-poll-ms"), 10) || 5000;
  var ROTATE_MS = parseInt(root.getAttribute("data-rotate-ms"), 10) || 0;
  var FAILURES_SHOWN = 2;
  var BANNER_MS = 8000;
  var alertBox = root.querySelector("[data-connection-lost]");
  var banner = root.querySelector("[data-moved-up-banner]");
  var asOf = root.querySelector("[data-as-of] time");
  var failures = 0;
  var signedOut = 0;
  var view = { metric: root.getAttribute("data-metric"), scope: root.getAttribute("data-scope"),
               page: parseInt(root.getAttribute("data-page"), 10) || 1 };

  function json(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }
  var views = json("screen-views") || [];
  var ranks = rankMap(json("screen-ranks") || []);

  function rankMap(list) {
    var map = {};
    list.forEach(function (row) { map[row[0]] = { name: row[1], rank: row[2] }; });
    return map;
  }

  function SignedOut() { this.name = "SignedOut"; }

  function getJSON(url) {
    // "manual": login_required answers an expired session with a redirect to the login
    // page, which must not be read as data.
    return fetch(url, { credentials: "same-origin", redirect: "manual",
                        headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401 ||
            response.status === 403) { throw new SignedOut(); }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      });
  }

  function contentUrl() {
    var query = new URLSearchParams({ metric: view.metric, scope: view.scope,
                                      page: String(view.page),
                                      base: root.getAttribute("data-base") || "revenue" });
    return root.getAttribute("data-content-url") + "?" + query.toString();
  }

  function swap(content, withFigures) {
    Object.keys(content.html).forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.innerHTML = content.html[id]; }
    });
    if (withFigures) {
      Object.keys(content.figures).forEach(function (id) {
        var source = document.getElementById(id);
        if (source) { source.textContent = JSON.stringify(content.figures[id]); }
      });
      window.LinfenCharts.drawAll(root);
    }
    if (content.views) { views = content.views; }
  }

  function announce(newRanks) {
    var template = root.getAttribute("data-moved-up") || "";
    var moved = [];
    newRanks.forEach(function (row) {
      var before = ranks[row[0]];
      if (before && row[2] < before.rank) {
        moved.push({ rank: row[2], text: template.replace("%(name)s", row[1])
                                                .replace("%(rank)s", String(row[2])) });
      }
    });
    ranks = rankMap(newRanks);
    if (!moved.length || !banner) { return; }
    moved.sort(function (a, b) { return a.rank - b.rank; });
    banner.textContent = moved.slice(0, 3).map(function (m) { return m.text; }).join(" · ");
    banner.hidden = false;
    window.clearTimeout(announce.timer);
    announce.timer = window.setTimeout(function () { banner.hidden = true; }, BANNER_MS);
  }

  function reached(state) {
    failures = 0;
    signedOut = 0;
    if (alertBox) { alertBox.hidden = true; }
    root.removeAttribute("data-stale");
    if (asOf && state.as_of) { asOf.textContent = state.as_of; }
  }

  function failed(error) {
    if (error instanceof SignedOut) {
      signedOut += 1;
      showAlert(alertBox.getAttribute("data-signed-out"));
      if (signedOut >= FAILURES_SHOWN) {
        window.location.assign(root.getAttribute("data-login-url"));
      }
      return;
    }
    failures += 1;
    if (failures >= FAILURES_SHOWN) {
      showAlert(alertBox.getAttribute("data-lost").replace(
        "%(time)s", asOf ? asOf.textContent : ""));
    }
  }

  function showAlert(text) {
    if (!alertBox) { return; }
    alertBox.textContent = text;
    alertBox.hidden = false;
    root.setAttribute("data-stale", "");
  }

  function poll() {
    getJSON(root.getAttribute("data-state-url")).then(function (state) {
      var snapshot = state.snapshot === null ? "" : String(state.snapshot);
      var changed = snapshot !== root.getAttribute("data-snapshot") ||
        state.status !== root.getAttribute("data-status");
      if (!changed) { reached(state); return null; }
      return getJSON(contentUrl()).then(function (content) {
        swap(content, true);
        announce(content.ranks || []);
        root.setAttribute("data-snapshot", snapshot);
        root.setAttribute("data-status", state.status);
        root.setAttribute("data-refreshed", String(Date.now()));
        reached(state);
      });
    }).catch(failed).then(function () { window.setTimeout(poll, POLL_MS); });
  }

  function rotate() {
    if (views.length) {
      var at = -1;
      views.forEach(function (v, i) {
        if (v.metric === view.metric && v.scope === view.scope && v.page === view.page) { at = i; }
      });
      view = Object.assign({}, views[(at + 1) % views.length]);
      getJSON(contentUrl()).then(function (content) {
        swap(content, false);
        root.setAttribute("data-metric", view.metric);
        root.setAttribute("data-scope", view.scope);
        root.setAttribute("data-page", String(view.page));
      }).catch(failed);
    }
    window.setTimeout(rotate, ROTATE_MS);
  }

  // Full screen needs a click (browsers refuse it otherwise); hidden where unsupported.
  var full = document.getElementById("fullscreen");
  if (full && document.documentElement.requestFullscreen) {
    full.hidden = false;
    full.addEventListener("click", function () {
      document.documentElement.requestFullscreen().catch(function () {});
    });
    document.addEventListener("fullscreenchange", function () {
      full.hidden = Boolean(document.fullscreenElement);
    });
  }

  window.setTimeout(poll, POLL_MS);
  if (root.hasAttribute("data-tv") && ROTATE_MS) { window.setTimeout(rotate, ROTATE_MS); }
})();
