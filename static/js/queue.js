// The review queue by keyboard: j / k move between sessions, v verifies, r goes to the
// reason for rejecting, d to the note of the first open flag, o opens the session. Keys
// typed into a field are the field's.
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll(".queue-item"));
  if (!items.length) { return; }

  function current() {
    var active = document.activeElement;
    var item = active && active.closest ? active.closest(".queue-item") : null;
    return item || null;
  }

  function focusItem(index) {
    var item = items[Math.max(0, Math.min(items.length - 1, index))];
    item.focus();
    item.scrollIntoView({block: "nearest"});
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) {
      if (event.key === "Escape") { (target.closest(".queue-item") || document.body).focus(); }
      return;
    }
    var item = current();
    var index = item ? items.indexOf(item) : -1;
    var key = event.key;
    if (key === "j") { focusItem(index + 1); }
    else if (key === "k") { focusItem(index < 0 ? 0 : index - 1); }
    else if (!item) { return; }
    else if (key === "v") {
      var verify = item.querySelector("[data-verify] button");
      if (verify && !verify.disabled) { verify.click(); } else { return; }
    } else if (key === "r") {
      var reason = item.querySelector("[data-reject-reason]");
      if (reason) { reason.focus(); } else { return; }
    } else if (key === "d") {
      var note = item.querySelector("[data-dismiss-note]");
      if (note) { note.focus(); } else { return; }
    } else if (key === "o") {
      var link = item.querySelector("[data-open]");
      if (link) { window.location.href = link.href; } else { return; }
    } else { return; }
    event.preventDefault();
  });

  // Back on the queue after an action: the first session is ready for the keys.
  if (!document.querySelector(":focus")) { items[0].focus(); }
})();
