/* Searchable pickers: every <select data-combobox> becomes a Tom Select combobox (vendored
   under static/vendor/tom-select/, no CDN). The options carry their search keys
   (sessions_app/widgets.py: data-pinyin "hezhiyuan hzy", data-county "吉县 Jixian"), so
   typing a name, its pinyin initials or a county finds an official; options stay grouped by
   county. The last choices (localStorage, per data-remember) come first under "chosen
   recently". Without this script the <select> works as it is. */
(function () {
  "use strict";
  if (typeof TomSelect === "undefined") { return; }

  var RECENT = "__recent";
  var KEEP = 5;

  function storageKey(select) {
    return "linfen.combobox." + (select.getAttribute("data-remember") || select.name);
  }

  function remembered(select) {
    try {
      var values = JSON.parse(window.localStorage.getItem(storageKey(select)) || "[]");
      return Array.isArray(values) ? values.map(String) : [];
    } catch (error) { return []; }  // storage off (private mode) or damaged: nothing recalled
  }

  function remember(select, values) {
    var list = remembered(select);
    values.forEach(function (value) {
      if (!value) { return; }
      list = [value].concat(list.filter(function (v) { return v !== value; }));
    });
    try {
      window.localStorage.setItem(storageKey(select), JSON.stringify(list.slice(0, KEEP)));
    } catch (error) { /* storage off: nothing to keep */ }
  }

  function setUp(select) {
    if (select.tomselect) { return; }
    var multiple = select.multiple;
    var recent = remembered(select);
    var picker = new TomSelect(select, {
      searchField: ["text", "pinyin", "county"],
      // No query: the recent choices first, then the server's order (counties in pinyin
      // order). With a query, the best matches first ($score is implied).
      // (Sifter compares a missing field as the text "undefined", after any digit: the
      // recent ones carry "0" (latest) to "4" and sort first ascending.)
      sortField: [{ field: "recent", direction: "asc" }, { field: "$order" }],
      maxOptions: null,
      refreshThrottle: 60,
      allowEmptyOption: false,
      placeholder: select.getAttribute("data-placeholder") || "",
      plugins: multiple ? ["remove_button"] : [],
      closeAfterSelect: !multiple,
      render: {
        no_results: function (data, escape) {
          return '<div class="no-results">' + escape(select.getAttribute("data-label-none") || "") + "</div>";
        }
      }
    });
    if (recent.length) {
      picker.addOptionGroup(RECENT, { label: select.getAttribute("data-label-recent") || "" });
      recent.forEach(function (value, index) {
        var option = picker.options[value];
        if (!option) { return; }  // an official no longer offered
        picker.updateOption(value, Object.assign({}, option, {
          optgroup: RECENT, recent: String(index)
        }));
      });
    }
    picker.on("change", function () {
      var value = picker.getValue();
      remember(select, (Array.isArray(value) ? value : [value]).map(String));
    });
  }

  var selects = document.querySelectorAll("select[data-combobox]");
  for (var i = 0; i < selects.length; i++) { setUp(selects[i]); }
  window.LinfenCombobox = { setUp: setUp };
})();
