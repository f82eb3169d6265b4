// TenantHub console: the little JavaScript the pages use. Everything works without it
// except the charts; it adds a confirmation to destructive forms and draws the usage
// charts from the JSON the page carries (Chart.js, served by this service).
"use strict";

(function () {
  // forms with data-confirm ask before they send (remove member, stop server, remove source)
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  // "every profile" makes the single choices moot: grey them out while it is ticked
  var every = document.getElementById("profiles-all");
  var choices = document.getElementById("profile-choices");
  if (every && choices && !every.disabled) {
    var sync = function () {
      choices.querySelectorAll("input").forEach(function (input) {
        input.disabled = every.checked;
      });
    };
    every.addEventListener("change", sync);
    sync();
  }

  // the add-source form: only the chosen kind's fields (the service reads only those)
  var kind = document.getElementById("source-kind");
  if (kind) {
    var showKind = function () {
      document.querySelectorAll("fieldset.th-kind-fields").forEach(function (fields) {
        fields.hidden = fields.dataset.kind !== kind.value;
      });
    };
    kind.addEventListener("change", showKind);
    showKind();
  }

  if (typeof window.Chart === "undefined") {
    return;
  }
  var colours = ["#f37726", "#4c78a8", "#54a24b", "#b279a2", "#9d755d", "#e45756"];
  document.querySelectorAll("canvas[id^='chart-']").forEach(function (canvas) {
    var source = document.getElementById(canvas.id + "-data");
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var chart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (series, i) {
          return {
            label: series.label,
            data: series.data,
            borderColor: colours[i % colours.length],
            backgroundColor: colours[i % colours.length],
            pointRadius: data.labels.length > 60 ? 0 : 2,
            borderWidth: 2,
            tension: 0.2,
          };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 8, autoSkip: true } },
          y: { beginAtZero: true },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    // tests and the benchmark wait for this: the chart has been drawn
    canvas.dataset.drawn = String(chart.data.labels.length);
  });
})();
