/* The session form, for staff entering many sessions: the holiday's days as one-tap
   choices for the start (and the end, when it was on the same day), a note saying which
   holiday the start is in or that it is in none (such a session counts in no ranking), and
   the focus where the work is: the first field in error after a refused save, else the
   first empty field after "save and enter the next". */
(function () {
  "use strict";
  var form = document.querySelector("form[data-session-form]");
  if (!form) { return; }
  var start = form.querySelector("input[name=started_at]");
  var end = form.querySelector("input[name=ended_at]");
  var note = form.querySelector("[data-holiday-note]");
  var chips = form.querySelectorAll("[data-day-choices] [data-day]");
  var rangesSource = document.getElementById("holiday-ranges");
  var ranges = rangesSource ? JSON.parse(rangesSource.textContent) : [];
  var read = window.LinfenMoments ? window.LinfenMoments.read : function () { return []; };

  function dayOf(value) {
    var moments = read(value || "");
    if (moments.length) { return moments[0].slice(0, 10); }
    var match = /^\s*(\d{4}-\d{2}-\d{2})\b/.exec(value || "");
    return match ? match[1] : "";
  }

  function timeOf(value) {
    var match = /\d{4}-\d{2}-\d{2}[ T]+(\S.*)$/.exec(value || "");
    return match ? match[1].trim() : "";
  }

  function holidayOn(day) {
    for (var i = 0; i < ranges.length; i++) {
      if (ranges[i][0] <= day && day <= ranges[i][1]) { return ranges[i][2]; }
    }
    return null;
  }

  function showHoliday() {
    if (!note || !start) { return; }
    var value = start.value.trim();
    var complete = read(value).length > 0;
    var day = dayOf(value);
    note.classList.remove("outside", "unreadable");
    if (!value || !day) {
      note.textContent = "";
    } else if (holidayOn(day)) {
      note.textContent = note.getAttribute("data-inside").replace("%(holiday)s", holidayOn(day));
    } else {
      note.textContent = note.getAttribute("data-outside");
      note.classList.add("outside");
    }
    if (value && !complete && document.activeElement !== start) {
      note.textContent = note.getAttribute("data-unreadable");
      note.classList.add("unreadable");
    }
    // A box holding only a date (a day chosen, or "save and enter the next"): the caret after
  // it, where the time is typed, wherever the box was tapped.
  [start, end].forEach(function (box) {
    if (!box) { return; }
    box.addEventListener("focus", function () {
      if (/^\d{4}-\d{2}-\d{2} $/.test(box.value)) {
        window.setTimeout(function () {
          box.setSelectionRange(box.value.length, box.value.length);
        }, 0);
      }
    });
  });

  for (var i = 0; i < chips.length; i++) {
      chips[i].setAttribute("aria-pressed", String(chips[i].getAttribute("data-day") === day));
    }
  }

  function pickDay(day) {
    var oldDay = dayOf(start.value);
    start.value = day + " " + timeOf(start.value);
    if (end && (!end.value.trim() || dayOf(end.value) === oldDay || !dayOf(end.value))) {
      end.value = day + " " + timeOf(end.value);
    }
    start.focus();
    // The caret after the date, where the time is typed.
    var at = start.value.length;
    start.setSelectionRange(day.length + 1, at);
    showHoliday();
  }

  for (var i = 0; i < chips.length; i++) {
    chips[i].addEventListener("click", function (event) {
      pickDay(event.currentTarget.getAttribute("data-day"));
    });
  }
  if (start) {
    ["input", "change", "blur"].forEach(function (name) {
      start.addEventListener(name, showHoliday);
    });
    showHoliday();
  }

  function focusField(field) {
    var select = field.querySelector("select");
    if (select && select.tomselect) { select.tomselect.focus(); return true; }
    var control = field.querySelector("input:not([type=hidden]), select, textarea");
    if (!control) { return false; }
    control.focus();
    if (control.setSelectionRange && /^(text|search)$/.test(control.type)) {
      control.setSelectionRange(control.value.length, control.value.length);
    }
    return true;
  }

  var firstError = form.querySelector(".field.has-error");
  if (firstError) {
    focusField(firstError);
  } else if (form.hasAttribute("data-focus-empty")) {
    // The first empty field that must be filled (an empty county means the official's).
    var fields = form.querySelectorAll(".field[data-field]");
    for (var j = 0; j < fields.length; j++) {
      if (!fields[j].querySelector("label .required")) { continue; }
      var control = fields[j].querySelector("input:not([type=hidden]), select, textarea");
      var empty = control && (!control.value.trim() ||
        (control.hasAttribute("data-moment") && !read(control.value).length));
      if (empty && focusField(fields[j])) { break; }
    }
  }
})();
