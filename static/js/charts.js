/* Draws the figures the page embeds as JSON (<script type="application/json" id=...>) into
   the elements that name them (data-figure="<id>"), with the plotly.js served from static/.
   Figures come from rankings/charts.py; this file only adds what depends on the screen. */
(function () {
  "use strict";

  var zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
  var config = {
    responsive: true,
    displaylogo: false,
    locale: zh ? "zh-CN" : "en",
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]
  };

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source || typeof Plotly === "undefined") { return; }
    var figure = JSON.parse(source.textContent);
    var layout = figure.layout || {};
    layout.autosize = true;
    if (element.getAttribute("data-size") === "large") {
      // A hall display: bigger type, and the height of the box CSS gives the chart.
      layout.font = Object.assign({}, layout.font, { size: 22, color: "#f2f4f8" });
      layout.title = Object.assign({}, layout.title, { font: { size: 28, color: "#ffd166" } });
      ["xaxis", "yaxis"].forEach(function (axis) {
        if (layout[axis]) { layout[axis].gridcolor = "#2c3547"; }
      });
      var categories = layout.yaxis && layout.yaxis.categoryarray;
      if (categories && categories.length > 12) {
        // Every county named, even on a shorter screen: smaller ticks rather than gaps.
        layout.yaxis.tickfont = { size: 15 };
      }
      delete layout.height;
    }
    if (element.getAttribute("data-drawn")) {
      Plotly.react(element, figure.data, layout, config);
    } else {
      Plotly.newPlot(element, figure.data, layout, config);
      element.setAttribute("data-drawn", "1");
    }
  }

  function drawAll(root) {
    var elements = (root || document).querySelectorAll("[data-figure]");
    for (var i = 0; i < elements.length; i++) { draw(elements[i]); }
  }

  window.LinfenCharts = { draw: draw, drawAll: drawAll };
  drawAll(document);
})();
