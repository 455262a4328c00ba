// Trebuchet console: progressive behaviour on top of server-rendered pages.
// - Live updates: one EventSource per page; a change refreshes the fragments marked
//   data-live (their URL) through htmx, only those naming the changed message when they
//   list ids in data-live-ids.
// - Forms with data-confirm ask before they submit.
(function () {
  "use strict";

  function refresh(element) {
    if (!window.htmx || !element.isConnected) { return; }
    if (element._pending) { return; }
    element._pending = setTimeout(function () {
      element._pending = null;
      window.htmx.ajax("GET", element.getAttribute("data-live"), { target: element, swap: "outerHTML" });
    }, 250);
  }

  function liveElements() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  function startLive() {
    if (!liveElements().length || !window.EventSource) { return; }
    var opened = false;
    var source = new EventSource("/console/live");
    source.addEventListener("open", function () {
      if (opened) { liveElements().forEach(refresh); }  // caught up after a reconnect
      opened = true;
      document.documentElement.setAttribute("data-live-connected", "true");
    });
    source.addEventListener("message", function (event) {
      var change = JSON.parse(event.data);
      liveElements().forEach(function (element) {
        var ids = element.getAttribute("data-live-ids");
        if (!ids || ids.split(" ").indexOf(change.id) >= 0) { refresh(element); }
      });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  function showCurrentSection() {
    var current = document.querySelector(".nav [aria-current]");
    if (current && current.scrollIntoView) { current.scrollIntoView({ block: "nearest", inline: "center" }); }
  }

  document.addEventListener("DOMContentLoaded", startLive);
  document.addEventListener("DOMContentLoaded", showCurrentSection);
})();
