/* Draws the figures the page embeds as JSON (<script type="application/json" id=...>) into
   the elements that name them (data-figure="<id>"), with the plotly.js served from static/.
   Figures come from rankings/charts.py; this file only adds what depends on the screen. */
(function () {
  "use strict";

  var zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
  // No toolbar on any screen (its download and share buttons are of no use to officials,
  // and on a phone it covers the chart), no zoom by wheel, drag or double tap: a finger on a
  // chart scrolls the page. The figures fix their axes too (rankings/charts.py).
  var config = {
    responsive: true,
    displayModeBar: false,
    displaylogo: false,
    scrollZoom: false,
    doubleClick: false,
    showAxisDragHandles: false,
    locale: zh ? "zh-CN" : "en"
  };
  // Type on the hall screen, read from across the room: nothing under 28 px.
  var LARGE = 28;

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source || typeof Plotly === "undefined") { return; }
    var figure = JSON.parse(source.textContent);
    var layout = figure.layout || {};
    layout.autosize = true;
    if (element.getAttribute("data-size") === "large") {
      // A hall display: large type everywhere (values on the bars too), the height of the
      // box CSS gives the chart, no legend (the star marks key counties; the page says so).
      layout.font = Object.assign({}, layout.font, { size: LARGE, color: "#f2f4f8" });
      layout.title = Object.assign({}, layout.title, {
        font: { size: LARGE + 4, color: "#ffd166" }, x: 0, xanchor: "left" });
      layout.margin = { l: 10, r: 20, t: 56, b: 10 };
      layout.showlegend = false;
      ["xaxis", "yaxis"].forEach(function (axis) {
        var a = layout[axis];
        if (!a) { return; }
        a.gridcolor = "#2c3547";
        a.tickfont = { size: LARGE, color: "#f2f4f8" };
        a.tickangle = 0;
        if (a.type !== "category" && a.tickvals && a.tickvals.length > 4) {
          // Large labels need room: every other round value.
          a.tickvals = a.tickvals.filter(function (v, i) { return i % 2 === 0; });
          a.ticktext = a.ticktext.filter(function (v, i) { return i % 2 === 0; });
        }
      });
      var beside = false;
      (figure.data || []).forEach(function (trace) {
        trace.textfont = { size: LARGE, color: "#f2f4f8" };
        if (trace.type === "bar" && trace.orientation === "h") {
          // Values beside the bars, whole at any bar length (inside, a short bar cuts them).
          trace.textposition = "outside";
          trace.constraintext = "none";
          trace.cliponaxis = false;
          beside = true;
        }
      });
      if (beside && layout.xaxis && layout.xaxis.range) {
        // Room right of the longest bar for its value.
        layout.xaxis.range = [layout.xaxis.range[0], layout.xaxis.range[1] * 1.4];
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
