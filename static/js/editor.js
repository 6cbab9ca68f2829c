// Codex-32 config editor: a line-number gutter for <textarea data-editor>.
// Progressive enhancement only: without this script the textarea works as is.
(function () {
  "use strict";
  function enhance(ta) {
    if (ta.dataset.enhanced) return;
    ta.dataset.enhanced = "1";
    var wrap = document.createElement("div");
    wrap.className = "codex-editor";
    var gutter = document.createElement("pre");
    gutter.className = "codex-editor-gutter";
    gutter.setAttribute("aria-hidden", "true");
    ta.parentNode.insertBefore(wrap, ta);
    wrap.appendChild(gutter);
    wrap.appendChild(ta);
    function render() {
      var n = ta.value.split("\n").length;
      var out = "";
      for (var i = 1; i <= n; i++) out += i + "\n";
      gutter.textContent = out;
      gutter.scrollTop = ta.scrollTop;
    }
    ta.addEventListener("input", render);
    ta.addEventListener("scroll", function () { gutter.scrollTop = ta.scrollTop; });
    ta.addEventListener("keydown", function (e) {
      if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        var s = ta.selectionStart, t = ta.selectionEnd;
        ta.setRangeText("  ", s, t, "end");
        render();
      }
    });
    render();
    // Errors point at lines: clicking one selects that line.
    document.querySelectorAll("[data-testid=config-error][data-line]").forEach(function (li) {
      var line = parseInt(li.dataset.line, 10);
      if (!line) return;
      li.style.cursor = "pointer";
      li.addEventListener("click", function () {
        var lines = ta.value.split("\n"), start = 0;
        for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
        ta.focus();
        ta.setSelectionRange(start, start + (lines[line - 1] || "").length);
      });
    });
  }
  function init(root) {
    (root || document).querySelectorAll("textarea[data-editor]").forEach(enhance);
  }
  document.addEventListener("DOMContentLoaded", function () { init(); });
  document.addEventListener("htmx:load", function (e) { init(e.target); });
})();
