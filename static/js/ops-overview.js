/* The admin index's operations panels refresh themselves: every data-refresh-seconds the
   partial (data-refresh-url, /admin/ops/panels/) is fetched and swapped in, without a full
   reload. A refusal (403: the session ended) or a failed fetch marks the panels stale.
   window.beoOpsOverview.refresh() fetches now; .start() restarts the timer with the current
   data-refresh-seconds (the browser test shortens it). No inline script or style: CSP. */
(function () {
  "use strict";
  var timer = null;

  function container() {
    return document.getElementById("ops-overview");
  }

  function markStale(box, why) {
    var state = box.querySelector(".ops-refresh-state");
    if (state) {
      state.textContent = " — not refreshed: " + why;
      state.classList.add("ops-refresh-state--stale");
    }
  }

  function refresh() {
    var box = container();
    if (!box) {
      return Promise.resolve(false);
    }
    return fetch(box.dataset.refreshUrl, {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      redirect: "error",
    }).then(function (response) {
      if (!response.ok) {
        markStale(box, response.status === 403 ? "logged out" : "HTTP " + response.status);
        return false;
      }
      return response.text().then(function (html) {
        box.innerHTML = html;
        box.dispatchEvent(new CustomEvent("ops:refreshed", { bubbles: true }));
        return true;
      });
    }).catch(function () {
      markStale(box, "the server did not answer");
      return false;
    });
  }

  function start() {
    var box = container();
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (!box) {
      return;
    }
    var seconds = parseFloat(box.dataset.refreshSeconds);
    if (!(seconds > 0)) {
      return;
    }
    timer = setTimeout(function tick() {
      refresh().finally(start);
    }, seconds * 1000);
  }

  window.beoOpsOverview = { refresh: refresh, start: start };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
