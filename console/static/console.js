// The console works without this script; it adds keyboard use and
// countdowns. It never sees the session: the cookie is HttpOnly.
(function () {
  "use strict";
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("tr[data-href]")); };
  var current = -1;
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
      if (f) { e.preventDefault(); f.focus(); }
    } else if (e.key === "j") {
      select(current + 1);
    } else if (e.key === "k") {
      select(current - 1);
    } else if (e.key === "Enter" && current >= 0) {
      var r = rows()[current];
      if (r) window.location.href = r.getAttribute("data-href");
    }
  });
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-release]").forEach(function (el) {
      var s = Math.round((Date.parse(el.getAttribute("data-release")) - now) / 1000);
      if (isNaN(s)) return;
      if (s <= 0) { el.textContent = "due"; return; }
      var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
      el.textContent = "in " + (h ? h + "h" : "") + (h || m ? m + "m" : "") + r + "s";
    });
  }
  tick();
  setInterval(tick, 1000);
})();
