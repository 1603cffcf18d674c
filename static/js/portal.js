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
})();
