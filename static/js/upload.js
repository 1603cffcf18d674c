// Shows the upload's progress and lets htmx show a refused upload's message.
(function () {
  const form = document.getElementById("upload-form");
  const bar = document.getElementById("upload-progress");
  if (!form || !bar) return;
  form.addEventListener("htmx:xhr:progress", function (evt) {
    if (!evt.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = (evt.detail.loaded / evt.detail.total) * 100;
  });
  form.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.xhr.status >= 400 && evt.detail.xhr.status < 500) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
      bar.hidden = true;
    }
  });
})();
