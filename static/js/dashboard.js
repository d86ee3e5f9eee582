/* While the rankings shown are being computed or updated, ask the holiday's state every few
   seconds and reload once a new snapshot is ready, so nobody has to press reload. */
(function () {
  "use strict";
  var root = document.querySelector("[data-wait-for-rankings]");
  if (!root) { return; }
  var url = root.getAttribute("data-wait-for-rankings");
  var shown = root.getAttribute("data-snapshot");

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state && state.status === "ready" && String(state.snapshot) !== shown) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 4000);
      })
      .catch(function () { window.setTimeout(poll, 4000); });
  }
  window.setTimeout(poll, 4000);
})();
