// The edition page's layout: on a narrow screen (a phone) one pane at a time, Edit or
// Preview, switched from the bar that stays at the top; stories fold to their headline (on a
// phone they start folded) and open again, one by one or all at once; the "Add articles" box
// folds too. What is folded survives the sections coming back from the server (editor.js
// replaces them after a change of structure), and a story whose field has a problem opens.
"use strict";
(() => {
  const root = document.getElementById("editor");
  const layout = root && root.querySelector(".layout");
  if (!root || !layout) return;
  const narrow = window.matchMedia("(max-width: 1099px)");
  const phone = window.matchMedia("(max-width: 720px)");

  // --- Edit / Preview --------------------------------------------------------------------

  const scrolled = {edit: 0, preview: 0};
  const switches = [...root.querySelectorAll(".pane-switch [data-pane]")];

  function show(pane) {
    const was = layout.dataset.pane;
    if (was === pane) return;
    scrolled[was] = window.scrollY;
    layout.dataset.pane = pane;
    for (const button of switches) {
      button.setAttribute("aria-pressed", String(button.dataset.pane === pane));
    }
    // Each pane comes back where it was left (the preview: at its top).
    if (narrow.matches) window.scrollTo(0, scrolled[pane]);
  }

  for (const button of switches) {
    button.addEventListener("click", () => show(button.dataset.pane));
  }

  // --- Folding stories -------------------------------------------------------------------

  const sections = document.getElementById("sections");
  const folded = new Set();  // article ids

  function apply(item) {
    const closed = folded.has(item.dataset.article);
    item.classList.toggle("folded", closed);
    const body = item.querySelector(".item-body");
    if (body) body.hidden = closed;
    const button = item.querySelector("button.fold");
    if (button) button.setAttribute("aria-expanded", String(!closed));
  }

  function applyAll() {
    if (!sections) return;
    for (const item of sections.querySelectorAll(".item")) apply(item);
  }

  function fold(item, closed) {
    if (closed) folded.add(item.dataset.article);
    else folded.delete(item.dataset.article);
    apply(item);
  }

  if (sections) {
    sections.addEventListener("click", (event) => {
      const button = event.target.closest("button.fold");
      if (!button) return;
      const item = button.closest(".item");
      fold(item, !folded.has(item.dataset.article));
    });
    // A field with a problem (refused, or changed in two places) is shown, not folded away.
    sections.addEventListener("field-problem", (event) => {
      const item = event.target.closest(".item");
      if (item) fold(item, false);
      const more = event.target.closest("details");
      if (more) more.open = true;
    });
    // The byline, source, date and link, as typed, on the line that opens them.
    sections.addEventListener("input", (event) => {
      const more = event.target.closest(".meta-more");
      if (!more) return;
      const words = [...more.querySelectorAll(".meta [data-key]")].map((el, index) =>
        el.value.trim() || ["no byline", "no source", "no date", "no link"][index]);
      more.querySelector("[data-meta-line]").textContent = words.join(" · ");
    });
    // editor.js puts new sections in after a change of structure: fold them as they were.
    new MutationObserver(applyAll).observe(sections, {childList: true});
  }

  function foldAll(closed) {
    if (!sections) return;
    for (const item of sections.querySelectorAll(".item")) fold(item, closed);
  }

  const foldButton = document.getElementById("fold-all");
  const openButton = document.getElementById("open-all");
  if (foldButton) foldButton.addEventListener("click", () => foldAll(true));
  if (openButton) openButton.addEventListener("click", () => foldAll(false));

  // A phone starts with every story folded to its headline, and the Add box closed.
  if (phone.matches) {
    foldAll(true);
    const add = document.getElementById("add-box");
    if (add) add.open = false;
  }
  // Back from adding an article (the address names it), its guessed byline, source, date
  // and link are open, to be checked and fixed.
  const arrived = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  if (arrived && sections && arrived.classList.contains("item") && sections.contains(arrived)) {
    fold(arrived, false);
    const more = arrived.querySelector(".meta-more");
    if (more) more.open = true;
    arrived.scrollIntoView();
  }
})();
