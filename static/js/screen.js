/* Big-screen mode: poll the small state endpoint; when a new ranking snapshot exists (or the
   rankings start or stop being updated), fetch the new board and figures and swap them in
   without reloading the page. */
(function () {
  "use strict";

  var root = document.getElementById("screen");
  if (!root) { return; }
  var POLL_MS = parseInt(root.getAttribute("data-poll-ms"), 10) || 5000;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      });
  }

  function swap(content) {
    Object.keys(content.html).forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.innerHTML = content.html[id]; }
    });
    Object.keys(content.figures).forEach(function (id) {
      var source = document.getElementById(id);
      if (source) { source.textContent = JSON.stringify(content.figures[id]); }
    });
    window.LinfenCharts.drawAll(root);
  }

  function poll() {
    getJSON(root.getAttribute("data-state-url")).then(function (state) {
      var snapshot = state.snapshot === null ? "" : String(state.snapshot);
      if (snapshot === root.getAttribute("data-snapshot") &&
          state.status === root.getAttribute("data-status")) { return null; }
      return getJSON(root.getAttribute("data-content-url")).then(function (content) {
        swap(content);
        root.setAttribute("data-snapshot", snapshot);
        root.setAttribute("data-status", state.status);
        root.setAttribute("data-refreshed", String(Date.now()));
      });
    }).catch(function () {
      // Network hiccup or a restart: keep showing the last board and try again next time.
    }).then(function () { window.setTimeout(poll, POLL_MS); });
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
})();
