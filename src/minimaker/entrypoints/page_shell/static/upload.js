// The upload form, enhanced: drop a photo on it or choose one, see it before it is sent, watch
// a progress bar while it goes, and find its card on the page without a reload, so a width
// typed in another photo's form stays. XMLHttpRequest, not fetch: only it reports upload
// progress. Without JavaScript the same form posts as it always did; the server checks
// everything again either way, and answers a refusal with the words the page would show.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file");
  if (!form || !input) return;
  const zone = document.getElementById("dropzone");
  const preview = document.getElementById("upload-preview");
  const bar = document.getElementById("upload-progress");
  const news = document.getElementById("upload-news");
  const button = form.querySelector("button[type=submit]");
  const maxBytes = Number(form.dataset.maxBytes);
  let busy = false;
  let shown = null; // the object URL the preview shows

  function problem(text, link) {
    let p = document.getElementById("file-error");
    if (!p) {
      p = document.createElement("p");
      p.className = "field-error";
      p.id = "file-error";
      input.before(p);
    }
    p.setAttribute("role", "alert");
    p.textContent = text + (link ? " " : "");
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      p.append(a);
    }
    input.setAttribute("aria-invalid", "true");
    const described = (input.getAttribute("aria-describedby") || "").split(" ");
    if (!described.includes("file-error")) described.push("file-error");
    input.setAttribute("aria-describedby", described.join(" ").trim());
    input.closest(".field").classList.add("invalid");
  }

  function clearProblem() {
    const p = document.getElementById("file-error");
    if (p) p.remove();
    input.removeAttribute("aria-invalid");
    const described = (input.getAttribute("aria-describedby") || "").split(" ");
    const kept = described.filter((d) => d && d !== "file-error").join(" ");
    if (kept) input.setAttribute("aria-describedby", kept);
    else input.removeAttribute("aria-describedby");
    input.closest(".field").classList.remove("invalid");
  }

  function showPreview(file) {
    if (shown) URL.revokeObjectURL(shown);
    shown = file ? URL.createObjectURL(file) : null;
    preview.hidden = !shown;
    if (shown) preview.src = shown;
    else preview.removeAttribute("src");
  }

  function chosen() {
    const file = input.files[0];
    clearProblem();
    bar.hidden = true;
    if (file && file.size > maxBytes) {
      input.value = ""; // refused here: nothing too large is sent, by script or by the form
      showPreview(null);
      problem(form.dataset.tooLarge);
      return;
    }
    showPreview(file || null);
  }

  function placeCard(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim(); // rendered (and escaped) by the server's template
    const card = holder.content.firstElementChild;
    const empty = document.getElementById("no-photos");
    if (empty) empty.remove();
    document.getElementById("photos-heading").after(card);
    document.dispatchEvent(new CustomEvent("minimaker:card", { detail: card }));
  }

  function refusal(xhr, body) {
    if (body && body.error) return [body.error.message, body.error.link];
    if (xhr.status === 413) return [form.dataset.tooLarge, null];
    if (new URL(xhr.responseURL || location.href).pathname === "/login") {
      return ["You were signed out. Sign in again, then upload your photo.",
        { href: "/login", text: "Sign in" }];
    }
    if (xhr.status === 403) return ["This form has expired. Reload the page and try again.", null];
    return ["The upload did not work. Please try again.", null];
  }

  function answered(xhr) {
    busy = false;
    button.removeAttribute("aria-disabled");
    let body = null;
    if ((xhr.getResponseHeader("content-type") || "").startsWith("application/json")) {
      body = JSON.parse(xhr.responseText);
    }
    if (xhr.status === 201 && body) {
      bar.value = bar.max;
      placeCard(body.card);
      input.value = "";
      showPreview(null);
      news.textContent = "Your photo is uploaded. It is first in your photos.";
      return;
    }
    bar.hidden = true;
    const [text, link] = refusal(xhr, body);
    problem(text, link);
  }

  function send(event) {
    event.preventDefault();
    if (busy || !input.files[0]) return;
    busy = true;
    button.setAttribute("aria-disabled", "true"); // not disabled: the focus stays on it
    clearProblem();
    bar.value = 0;
    bar.hidden = false;
    news.textContent = "Uploading your photo.";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.max = e.total;
        bar.value = e.loaded;
      }
    });
    xhr.addEventListener("load", () => answered(xhr));
    xhr.addEventListener("error", () => {
      busy = false;
      button.removeAttribute("aria-disabled");
      bar.hidden = true;
      problem("The upload did not reach us. Check your connection and try again.");
    });
    xhr.send(new FormData(form));
  }

  function dropped(event) {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    const one = new DataTransfer();
    one.items.add(files[0]); // the form takes one photo
    input.files = one.files;
    chosen();
  }

  preview.addEventListener("error", () => { preview.hidden = true; }); // not an image after all
  zone.classList.add("ready");
  document.getElementById("dropzone-hint").hidden = false;
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", dropped);
  // A click anywhere on the zone opens the chooser, as a click on the field does; the field
  // itself stays the one control, in the tab order, that the keyboard opens it with.
  zone.addEventListener("click", (e) => {
    if (e.target === zone || e.target === preview || e.target.id === "dropzone-hint") input.click();
  });
  input.addEventListener("change", chosen);
  form.addEventListener("submit", send);
})();
