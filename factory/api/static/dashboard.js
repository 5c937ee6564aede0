// Draws every chart of the page from its data-figure attribute (plotly figure JSON).
// No inline scripts: the page's content security policy allows scripts from this server only.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var fig = JSON.parse(el.getAttribute("data-figure"));
    window.Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true });
  });
});
