// The console works without this script; it adds keyboard use and
// countdowns. It never sees the session: the cookie is HttpOnly.
(function () {
  "use strict";
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("tr[data-href]")); };
  var current = -1;
  // Chromium driven over DevTools sends the "/" character apart from its
  // keydown, after the focus has moved: swallow it until the key is up.
  var swallowSlash = false;
  document.addEventListener("keypress", function (e) {
    if (swallowSlash && e.key === "/") e.preventDefault();
  }, true);
  document.addEventListener("keyup", function () { swallowSlash = false; }, true);
  function select(i) {
    var rs = rows();
    if (rs.length === 0) return;
    i = Math.max(0, Math.min(rs.length - 1, i));
    if (current >= 0 && rs[current]) rs[current].classList.remove("selected");
    current = i;
    rs[i].classList.add("selected");
    rs[i].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/") {
      var f = document.querySelector(".filters input");
      if (f) { e.preventDefault(); swallowSlash = true; f.focus(); }
    } else if (e.key === "j") {
      select(current + 1);
    } else if (e.key === "k") {
      select(current - 1);
    } else if (e.key === "Enter" && current >= 0) {
      var r = rows()[current];
      if (r) window.location.href = r.getAttribute("data-href");
    }
  });
  // Countdowns count from what relayd said when the page was made, so a
  // browser clock that disagrees with relayd's does not matter.
  var loaded = Date.now();
  function tick() {
    var gone = Math.round((Date.now() - loaded) / 1000);
    document.querySelectorAll(".countdown[data-in]").forEach(function (el) {
      var s = parseInt(el.getAttribute("data-in"), 10) - gone;
      if (isNaN(s)) return;
      if (s <= 0) { el.textContent = "due"; return; }
      var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
      el.textContent = "in " + (h ? h + "h" : "") + (h || m ? m + "m" : "") + r + "s";
    });
  }
  tick();
  setInterval(tick, 1000);
})();
