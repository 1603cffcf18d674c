// Moving a project asks for confirmation: the form's submit opens a dialog that repeats
// the target stage and the reason; only "Move" submits it. Without script the form
// submits directly, and the server still insists on a reason.
(function () {
  const dialog = document.getElementById("move-confirm");
  if (!dialog || typeof dialog.showModal !== "function") return;
  let pending = null;

  document.addEventListener("submit", function (evt) {
    const form = evt.target.closest("form[data-confirm-move]");
    if (!form || form.dataset.confirmed === "yes") return;
    evt.preventDefault();
    const to = form.elements.namedItem("to");
    const reason = form.elements.namedItem("reason");
    dialog.querySelector("[data-move-to]").textContent = to.value;
    dialog.querySelector("[data-move-reason]").textContent = reason.value.trim();
    pending = form;
    dialog.showModal();
  });

  dialog.querySelector("[data-move-cancel]").addEventListener("click", function () {
    pending = null;
    dialog.close();
  });

  dialog.querySelector("[data-move-confirm]").addEventListener("click", function () {
    if (!pending) return;
    const form = pending;
    pending = null;
    dialog.close();
    form.dataset.confirmed = "yes";
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  });
})();
