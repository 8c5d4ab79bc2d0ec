/* SongForge upload widget: drag-and-drop or file picker, one XMLHttpRequest per file
   (sequential, so slots fill in order), a progress bar per file, readable errors.
   Without JavaScript the form posts normally. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var input = form.querySelector("input[type=file]");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("upload-progress");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
  var queue = [];
  var busy = false;

  function refreshSlots() {
    var slots = document.getElementById("slots");
    if (slots && window.htmx) { window.htmx.trigger(slots, "refresh"); }
  }

  function row(file) {
    var li = document.createElement("li");
    li.className = "upload-row";
    var name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + file.name);
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "Waiting…";
    li.appendChild(name); li.appendChild(bar); li.appendChild(status);
    list.appendChild(li);
    return { li: li, bar: bar, status: status };
  }

  function fail(view, message) {
    view.li.classList.add("failed");
    view.status.textContent = message;
    view.status.setAttribute("role", "alert");
  }

  function next() {
    if (busy || queue.length === 0) { return; }
    busy = true;
    var item = queue.shift();
    var file = item.file, view = item.view;
    if (maxBytes && file.size > maxBytes) {
      fail(view, "Too large: the limit is " + Math.round(maxBytes / 1048576) + " MB.");
      busy = false; next(); return;
    }
    var data = new FormData();
    data.append("file", file);
    data.append("csrfmiddlewaretoken", csrf);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        var percent = Math.round(event.loaded / event.total * 100);
        view.bar.value = percent;
        view.status.textContent = percent + "%";
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        view.bar.value = 100;
        view.li.classList.add("done");
        view.status.textContent = "Uploaded — identifying…";
      } else {
        fail(view, (body && body.message) || ("Upload failed (HTTP " + xhr.status + "). Try again."));
      }
      busy = false; refreshSlots(); next();
    });
    xhr.addEventListener("error", function () {
      fail(view, "Network error: the upload did not reach the server. Check your connection and try again.");
      busy = false; next();
    });
    view.status.textContent = "Uploading…";
    xhr.send(data);
  }

  function add(files) {
    for (var i = 0; i < files.length; i++) {
      queue.push({ file: files[i], view: row(files[i]) });
    }
    next();
  }

  input.addEventListener("change", function () { add(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    if (event.dataTransfer && event.dataTransfer.files) { add(event.dataTransfer.files); }
  });

  /* The manual-match panel: show it when htmx fills it, and move focus to it. */
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var panel = document.getElementById("fix-panel");
    if (panel && event.detail.target === panel) {
      panel.hidden = false;
      var field = panel.querySelector("input[name=q]");
      if (field) { field.focus(); }
    }
  });
}());
