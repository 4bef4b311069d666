// Refreshes the live part of a running run's page in place (no full reload, so scroll and
// open details stay); reloads the page when the run's status changes or a step finishes.
(function () {
  function schedule() {
    var live = document.getElementById("live");
    if (!live || !live.dataset.refresh) return;
    var every = Math.max(0.2, parseFloat(live.dataset.every || "3")) * 1000;
    setTimeout(function () {
      fetch(live.dataset.refresh, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html) {
            var box = document.createElement("div");
            box.innerHTML = html;
            var fresh = box.querySelector("#live");
            if (fresh && fresh.dataset.status !== live.dataset.status) {
              // A new status or a finished step brings new parts (lineage, results, buttons).
              location.reload();
              return;
            }
            if (fresh) {
              var open = live.querySelector("details[open]");
              if (open && open.id) {
                var same = fresh.querySelector("#" + open.id);
                if (same) same.open = true;
              }
              live.replaceWith(fresh);
              if (fresh.dataset.title) document.title = fresh.dataset.title;
            }
          }
          schedule();
        })
        .catch(function () { setTimeout(schedule, every); });
    }, every);
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();
