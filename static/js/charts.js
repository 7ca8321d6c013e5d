// Draws every [data-chart] element with ECharts (SVG): the data is the JSON in its
// <script type="application/json" class="chart-data">. The table below each chart holds the same
// numbers, so a page without scripts loses nothing. Re-draws after htmx swaps and before printing.
(function () {
  "use strict";
  var COLOURS = ["#1d5fbf", "#e08a00", "#1e7b34", "#8a4fbf", "#b42318", "#2a9aa8", "#555c66"];

  function text(value, fmt) {
    if (value === null || value === undefined) { return "—"; }
    if (fmt === "percent") { return value.toFixed(1) + "%"; }
    if (fmt === "money") { return "¥" + value.toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
    if (fmt === "decimal") { return value.toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
    return value.toLocaleString("zh-CN");
  }

  function option(data, narrow) {
    var fmt = data.series.length ? data.series[0].fmt : "int";
    if (data.type === "pie") {
      var s = data.series[0];
      return {
        color: COLOURS, animation: false,
        tooltip: { trigger: "item", valueFormatter: function (v) { return text(v, s.fmt); } },
        legend: { type: "scroll", bottom: 0 },
        series: [{ type: "pie", name: s.name, radius: narrow ? ["25%", "55%"] : ["30%", "65%"], top: 0, bottom: 30,
          data: data.categories.map(function (c, i) { return { name: c, value: s.data[i] }; }),
          label: { formatter: "{b}: {d}%" } }]
      };
    }
    return {
      color: COLOURS, animation: false,
      tooltip: { trigger: "axis", valueFormatter: function (v) { return text(v, fmt); } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.categories,
        axisLabel: { interval: 0, rotate: narrow || data.categories.length > 6 ? 30 : 0, width: 96, overflow: "truncate" } },
      yAxis: { type: "value", minInterval: fmt === "int" ? 1 : 0, axisLabel: { formatter: function (v) { return text(v, fmt); } } },
      series: data.series.map(function (s) {
        return { type: data.type, name: s.name, data: s.data, barMaxWidth: 36 };
      })
    };
  }

  function draw(root) {
    if (!window.echarts) { return; }
    var scope = root && root.querySelectorAll ? root : document;
    var holders = scope.matches && scope.matches("[data-chart]") ? [scope] : scope.querySelectorAll("[data-chart]");
    Array.prototype.forEach.call(holders, function (holder) {
      var source = holder.querySelector("script.chart-data");
      var canvas = holder.querySelector(".chart-canvas");
      if (!source || !canvas) { return; }
      var data;
      try { data = JSON.parse(source.textContent); } catch (e) { return; }
      var old = window.echarts.getInstanceByDom(canvas);
      if (old) { old.dispose(); }
      var chart = window.echarts.init(canvas, null, { renderer: "svg" });
      chart.setOption(option(data, canvas.clientWidth < 480));
    });
  }

  function resizeAll() {
    if (!window.echarts) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart] .chart-canvas"), function (canvas) {
      var chart = window.echarts.getInstanceByDom(canvas);
      if (chart) { chart.resize(); }
    });
  }

  // The month and the date range exclude each other: picking one clears the other.
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.report-filters");
    if (!form) { return; }
    if (event.target.name === "month" && event.target.value) {
      form.elements.date_from.value = ""; form.elements.date_to.value = "";
    } else if ((event.target.name === "date_from" || event.target.name === "date_to") && event.target.value) {
      form.elements.month.value = "";
    }
  }, true);

  // Empty filters stay out of the pushed URL (?month=2026-10, not ?month=2026-10&date_from=&date_to=).
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.closest || !event.detail.elt.closest("form.report-filters")) { return; }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (key) { if (params[key] === "") { delete params[key]; } });
    // Half a date range while the user is still picking: wait for the other date (a submit still asks).
    var trigger = event.detail.triggeringEvent;
    if (trigger && trigger.type === "change" && (!params.date_from !== !params.date_to)) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.detail.target); });
  window.addEventListener("resize", resizeAll);
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);
}());
