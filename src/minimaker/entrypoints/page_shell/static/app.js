// The workspace keeps itself up to date without ever reloading: a reload would wipe a width
// just typed and the photo just chosen. While a model is queued or running, this asks
// /app/status.json every few seconds and puts each card whose status changed in place.
// Without JavaScript the page still works; the status is then seen on the next visit.
"use strict";

(function () {
  const POLL_MS = 3000;
  const PENDING = '[data-model-status="queued"], [data-model-status="running"]';

  function announce(text) {
    const news = document.getElementById("model-news");
    if (news) news.textContent = text;
  }

  function replaceCard(card, html) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim(); // rendered (and escaped) by the server's template
    const fresh = holder.content.firstElementChild;
    if (!fresh) return;
    card.replaceWith(fresh);
    document.dispatchEvent(new CustomEvent("minimaker:card", { detail: fresh }));
  }

  function apply(data) {
    for (const model of data.models) {
      const card = document.getElementById("model-" + model.id);
      if (card && card.dataset.modelStatus !== model.status) {
        replaceCard(card, model.card);
        announce("A model is now " + model.status + ".");
      }
    }
  }

  async function poll() {
    if (!document.querySelector(PENDING)) return; // nothing left to wait for
    try {
      const answer = await fetch("/app/status.json", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const type = answer.headers.get("content-type") || "";
      // Signed out meanwhile: the answer is the sign-in page, not JSON. Stop asking.
      if (!answer.ok || !type.startsWith("application/json")) return;
      apply(await answer.json());
    } catch (e) {
      // Offline for a moment: ask again at the next tick.
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
