/* Moment boxes (<input data-moment>, sessions_app/widgets.py MomentInput): a date and time,
   Beijing time, written "2020-05-03 20:30". What staff type or paste is read loosely and
   written back in that form: "2020/5/3 20:30", "2020年5月3日 20:30", "2020-05-03T20:30",
   "202005032030", full-width digits. A pasted range ("2020-05-03 20:30-22:30", or two
   moments) fills the start and the end box of the same form ([data-moment-end] is the end:
   the box named ended_at or started_before). */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function format(y, mo, d, h, mi, s) {
    var date = new Date(Date.UTC(y, mo - 1, d, h, mi, s || 0));
    // Refuse what does not exist (month 13, 31 April, 25:00) rather than roll it over.
    if (y < 1000 || y > 9999 || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d ||
        h > 23 || mi > 59 || (s || 0) > 59) { return null; }
    return y + "-" + pad(mo) + "-" + pad(d) + " " + pad(h) + ":" + pad(mi) + (s ? ":" + pad(s) : "");
  }

  function numbers(text) {
    var found = (text.normalize ? text.normalize("NFKC") : text).match(/\d+/g) || [];
    // Digits run together ("202005032030", "20200503 2030") are split where they belong.
    var out = [];
    found.forEach(function (part, i) {
      if (i === 0 && (part.length === 8 || part.length === 12 || part.length === 14)) {
        out.push(part.slice(0, 4), part.slice(4, 6), part.slice(6, 8));
        for (var k = 8; k < part.length; k += 2) { out.push(part.slice(k, k + 2)); }
      } else if (i > 0 && out.length === 3 && (part.length === 3 || part.length === 4)) {
        out.push(part.slice(0, part.length - 2), part.slice(part.length - 2));
      } else {
        out.push(part);
      }
    });
    return out.map(function (n) { return { text: n, value: parseInt(n, 10) }; });
  }

  /* The moments a text names: [start] or [start, end]; [] when it names none. */
  function read(text) {
    var n = numbers(text || "");
    if (n.length < 5 || n[0].text.length !== 4) { return []; }
    var v = n.map(function (x) { return x.value; });
    var start, end;
    if (n.length === 5 || n.length === 6) {  // with or without seconds
      start = format(v[0], v[1], v[2], v[3], v[4], n.length === 6 ? v[5] : 0);
      return start ? [start] : [];
    }
    if (n.length === 7) {  // one day, two times: "2020-05-03 20:30-22:30"
      start = format(v[0], v[1], v[2], v[3], v[4]);
      end = format(v[0], v[1], v[2], v[5], v[6]);
      if (start && end && end <= start) {  // past midnight: the next day
        var next = new Date(Date.UTC(v[0], v[1] - 1, v[2] + 1));
        end = format(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), v[5], v[6]);
      }
      return start && end ? [start, end] : [];
    }
    if (n.length === 10 && n[5].text.length === 4) {  // two whole moments
      start = format(v[0], v[1], v[2], v[3], v[4]);
      end = format(v[5], v[6], v[7], v[8], v[9]);
      return start && end ? [start, end] : [];
    }
    return [];
  }

  function endBoxOf(box) {
    if (!box.form) { return null; }
    return box.form.querySelector("[data-moment][name=ended_at], [data-moment][name=started_before]");
  }

  function set(box, value) {
    box.value = value;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function tidy(box) {
    var moments = read(box.value);
    if (moments.length === 1 && moments[0] !== box.value) { set(box, moments[0]); }
  }

  function onPaste(event) {
    var box = event.target;
    var text = (event.clipboardData || window.clipboardData).getData("text");
    var moments = read(text);
    if (!moments.length) { return; }  // not a moment: paste as it is, the server explains
    event.preventDefault();
    set(box, moments[0]);
    var end = endBoxOf(box);
    if (moments.length === 2 && end && end !== box) { set(end, moments[1]); }
  }

  var boxes = document.querySelectorAll("input[data-moment]");
  for (var i = 0; i < boxes.length; i++) {
    boxes[i].addEventListener("paste", onPaste);
    boxes[i].addEventListener("blur", function (event) { tidy(event.target); });
  }
  window.LinfenMoments = { read: read };
})();
