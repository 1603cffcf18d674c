// Small behaviours of every page, kept out of the templates: the Content-Security-Policy
// runs no inline script, on*= attribute or javascript: URL.
(function () {
  // "Back" links go to the previous page when there is one, else to their href.
  document.addEventListener("click", function (evt) {
    const link = evt.target.closest("a[data-history-back]");
    if (!link || window.history.length < 2) return;
    evt.preventDefault();
    window.history.back();
  });

  // A table wider than its box scrolls inside it (on a phone, every wide table does); a
  // keyboard scrolls only what it can focus, so such a box joins the tab order, named after
  // its table's caption or the heading above it, and leaves it once it fits again.
  function boxName(box) {
    const caption = box.querySelector("caption");
    if (caption) return caption.textContent.trim();
    const section = box.closest("section, article, main");
    const heading = section && section.querySelector("h1, h2, h3, header strong");
    return heading ? heading.textContent.trim() : "Table";
  }
  function markScrollBoxes() {
    document.querySelectorAll("main .table-scroll, main table").forEach(function (box) {
      const scrolls =
        box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== "visible";
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-box", "");
        if (box.tagName !== "TABLE") {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", boxName(box));
        }
      } else if (!scrolls && box.hasAttribute("data-scroll-box")) {
        ["tabindex", "data-scroll-box", "role", "aria-label"].forEach(function (name) {
          box.removeAttribute(name);
        });
      }
    });
  }
  markScrollBoxes();
  let pending = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(markScrollBoxes, 100);
  });
  document.addEventListener("htmx:afterSettle", markScrollBoxes);
})();
