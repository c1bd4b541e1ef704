// Roster console: small progressive enhancements. Every page works without
// this file; it only saves clicks.
(function () {
  "use strict";
  // A filter select submits its form when changed.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // A text filter marked data-autosubmit-typing submits after a pause in
  // typing (search as you type), keeping the caret where it was.
  document.querySelectorAll("input[data-autosubmit-typing]").forEach(function (el) {
    var timer;
    el.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { el.form.submit(); }, 400);
    });
  });
  var f = document.querySelector("input[data-autosubmit-typing]");
  if (f && f.value && location.hash === "#software") { f.focus(); f.setSelectionRange(f.value.length, f.value.length); }
  // Print buttons.
  document.querySelectorAll("button[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  // The search box suggests devices as you type, from the same search page.
  var q = document.getElementById("q");
  if (q && window.fetch && window.DOMParser) {
    var list = document.createElement("datalist");
    list.id = "q-suggest";
    document.body.appendChild(list);
    q.setAttribute("list", "q-suggest");
    var pending;
    q.addEventListener("input", function () {
      clearTimeout(pending);
      var text = q.value.trim();
      if (text.length < 2) { return; }
      pending = setTimeout(function () {
        fetch("/ui/search?q=" + encodeURIComponent(text), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            list.textContent = "";
            doc.querySelectorAll("#results li strong").forEach(function (s, i) {
              if (i < 8) { var o = document.createElement("option"); o.value = s.textContent; list.appendChild(o); }
            });
          }).catch(function () {});
      }, 250);
    });
  }
})();
