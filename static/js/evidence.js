/* The evidence panel: drop a file on the upload area (or choose one) and it is uploaded at
   once; a file over the size limit is refused here before it is sent (the server checks
   again). Without JavaScript the form works as a plain upload form. */
(function () {
  "use strict";
  document.querySelectorAll("[data-evidence-upload]").forEach(function (form) {
    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("input[type=file]");
    var error = form.querySelector("[data-evidence-error]");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
    if (!zone || !input) { return; }

    function fits(file) {
      if (maxBytes && file.size > maxBytes) {
        if (error) { error.textContent = form.getAttribute("data-too-large"); }
        zone.classList.add("has-error");
        return false;
      }
      return true;
    }

    function upload() {
      if (!input.files.length || !fits(input.files[0])) { return; }
      zone.classList.add("uploading");
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      // One file per upload: the first one dropped.
      var chosen = new DataTransfer();
      chosen.items.add(files[0]);
      input.files = chosen.files;
      upload();
    });
    input.addEventListener("change", upload);
    form.addEventListener("submit", function (event) {
      if (input.files.length && !fits(input.files[0])) { event.preventDefault(); }
    });
  });
})();
