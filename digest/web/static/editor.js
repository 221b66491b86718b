// The edition editor: every field saves on its own (a second after typing stops, and when it
// loses focus), one save at a time, each naming the value it was based on and the version
// that value was stored in, so no field's typing is ever thrown away by another's save. A
// change made elsewhere shows a notice naming what changed and never replaces what is
// typed; a field changed in two places shows both. The page's `version` is the one it shows
// all of: after another window's change it stays behind (until a reload), so a change of
// structure is refused rather than made on what the page does not show.
// Structure (order, sections, removal) changes by drag and drop (SortableJS) or by buttons,
// after every pending save, and the server sends the sections (and the removed stories) back.
"use strict";
(() => {
  const root = document.getElementById("editor");
  if (!root) return;
  const editionId = root.dataset.edition;
  // The page's "Save all" form is for browsers without JavaScript: here every field saves on
  // its own, and Enter in a field must not post the whole page.
  document.getElementById("save-all")?.addEventListener("submit", (event) => event.preventDefault());
  const csrf = root.dataset.csrf;
  const editable = root.dataset.editable === "true";
  let version = Number(root.dataset.version);
  let render = root.dataset.render;
  const DELAY = 1000;
  // key -> {el, base (the value stored), at (the version it was stored in), timer, state,
  //         problem, conflict}
  const fields = new Map();
  let queue = Promise.resolve();
  let busy = 0;  // requests in flight or queued
  let structureBusy = false;
  const saveState = document.getElementById("save-state");
  const elsewhere = document.getElementById("elsewhere");

  // --- Requests -------------------------------------------------------------------------

  async function post(path, body) {
    let answer;
    try {
      answer = await fetch(`/editions/${editionId}/${path}`, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify(body),
        redirect: "error",
      });
    } catch (error) {
      return {status: 0, data: {error: "no answer from the server (will try again)"}};
    }
    let data = {};
    try {
      data = await answer.json();
    } catch (error) {
      data = {error: `the server answered ${answer.status}`};
    }
    if (answer.status === 403) data.error = "the session expired: log in again in another tab";
    if (answer.status === 422 && Array.isArray(data.detail)) {
      data.error = data.detail.map((d) => `${d.loc.slice(-1)[0]}: ${d.msg}`).join("; ");
    }
    return {status: answer.status, data};
  }

  function serially(task) {
    busy += 1;
    updatePage();
    const run = queue.then(task).finally(() => { busy -= 1; updatePage(); });
    queue = run.catch(() => {});
    return run;
  }

  // --- Fields ---------------------------------------------------------------------------

  // A field's value as the server takes it: a switch (a checkbox) is "true" or "false".
  function valueOf(el) {
    if (el.type === "checkbox") return el.checked ? "true" : "false";
    return el.value;
  }

  function setValue(el, value) {
    if (el.type === "checkbox") el.checked = value === "true";
    else el.value = value;
  }

  function register(el) {
    const key = el.dataset.key;
    const known = fields.get(key);
    const entry = {el, base: el.dataset.base ?? valueOf(el), at: version, timer: 0,
                   state: "saved", problem: "", conflict: null};
    if (known && known.el !== el && known.state !== "saved") {
      // The sections came back from the server: keep what was typed and not yet saved.
      setValue(el, valueOf(known.el));
      entry.base = known.base;
      entry.at = known.at;
      entry.state = known.state;
      entry.problem = known.problem;
      entry.conflict = known.conflict;
    }
    fields.set(key, entry);
    showField(entry);
    if (el.readOnly || el.disabled) return;
    if (el.type === "checkbox") {
      // A switch is saved at once: there is nothing more to type.
      el.addEventListener("change", () => {
        entry.state = "dirty";
        entry.problem = "";
        showField(entry);
        save(entry);
      });
      return;
    }
    el.addEventListener("input", () => {
      if (key === "subject" || key === "preheader") showInbox();
      entry.state = "dirty";
      entry.problem = "";
      showField(entry);
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => save(entry), DELAY);
    });
    el.addEventListener("blur", () => {
      if (entry.state === "dirty") { clearTimeout(entry.timer); save(entry); }
    });
  }

  function current(entry) { return fields.get(entry.el.dataset.key) === entry; }

  // This page's own change took the edition from `from` to `to`: every field known as of
  // `from` is still as stored (the built copy that followed is taken by showState).
  function advance(from, to) {
    for (const entry of fields.values()) {
      if (entry.at === from) entry.at = to;
    }
    version = Math.max(version, to);
  }

  function save(entry) {
    clearTimeout(entry.timer);
    return serially(async () => {
      if (!current(entry) || entry.state === "saved" || entry.conflict) return;
      const value = valueOf(entry.el);
      entry.state = "saving";
      showField(entry);
      const based = version;
      const {status, data} = await post("field", {
        key: entry.el.dataset.key, value, base: entry.base, version: entry.at,
      });
      if (status === 200) {
        // Made on a newer version than the page shows: another window's change was merged.
        const own = data.was === based;
        if (own) advance(based, data.version);
        else changedElsewhere();
        entry.base = data.value;
        entry.at = data.version;
        // Typed on meanwhile: that is saved next.
        entry.state = valueOf(entry.el) === value ? "saved" : "dirty";
        if (entry.state === "dirty") entry.timer = setTimeout(() => save(entry), DELAY);
        showState(data, own);
      } else if (status === 409) {
        changedElsewhere();
        entry.state = "conflict";
        entry.conflict = {current: data.current, version: data.version};
      } else {
        entry.state = "failed";
        entry.problem = data.error || `the server answered ${status}`;
        if (status === 0) entry.timer = setTimeout(() => save(entry), 3000);
      }
      showField(entry);
    });
  }

  function showField(entry) {
    const box = entry.el.closest(".field");
    const label = box && box.querySelector("[data-state]");
    if (!label) return;
    box.dataset.state = entry.state;
    if (entry.state === "failed" || entry.state === "conflict") {
      // Unfolded where it is folded away (editor-layout.js), so the problem is seen.
      entry.el.dispatchEvent(new CustomEvent("field-problem", {bubbles: true}));
    }
    const words = {saved: "", dirty: "Not saved yet", saving: "Saving…",
                   failed: `Not saved: ${entry.problem}`,
                   conflict: "Not saved: changed in another window meanwhile"};
    if (entry.state === "saved" && label.textContent && label.textContent !== "Saved") {
      label.textContent = "Saved";
    } else if (entry.state !== "saved") {
      label.textContent = words[entry.state];
    }
    let panel = box.querySelector(".conflict");
    if (entry.conflict && !panel) {
      panel = document.createElement("div");
      panel.className = "conflict";
      panel.setAttribute("role", "alert");
      const intro = document.createElement("p");
      intro.textContent = "Saved elsewhere meanwhile:";
      const theirs = document.createElement("blockquote");
      theirs.className = "theirs";
      theirs.textContent = entry.conflict.current;
      const keep = document.createElement("button");
      keep.type = "button";
      keep.textContent = "Keep mine";
      keep.addEventListener("click", () => resolve(entry, "mine"));
      const take = document.createElement("button");
      take.type = "button";
      take.textContent = "Use theirs";
      take.addEventListener("click", () => resolve(entry, "theirs"));
      const row = document.createElement("div");
      row.className = "row";
      row.append(keep, take);
      panel.append(intro, theirs, row);
      box.append(panel);
    } else if (!entry.conflict && panel) {
      panel.remove();
    }
    updatePage();
  }

  function resolve(entry, choice) {
    const {current: theirs, version: at} = entry.conflict;
    entry.conflict = null;
    entry.base = theirs;  // what the store holds now: the next save is based on it
    entry.at = at;
    if (choice === "theirs") {
      setValue(entry.el, theirs);
      entry.state = "saved";
      showField(entry);
    } else {
      entry.state = "dirty";
      save(entry);
    }
  }

  function unsaved() {
    return [...fields.values()].filter((e) => e.state !== "saved");
  }

  function updatePage() {
    if (!saveState || !editable) return;
    const open = unsaved();
    const failed = open.filter((e) => e.state === "failed" || e.state === "conflict");
    if (busy || open.some((e) => e.state === "saving")) {
      saveState.textContent = "Saving…";
    } else if (failed.length) {
      saveState.textContent = `Not saved: ${failed.length} field${failed.length > 1 ? "s" : ""} (see below)`;
    } else if (open.length) {
      saveState.textContent = "Not saved yet";
    } else {
      saveState.textContent = "All changes saved";
    }
    root.dataset.saving = open.length || busy ? "true" : "false";
  }

  async function flush() {
    for (const entry of fields.values()) {
      if (entry.state === "dirty") save(entry);
    }
    await queue;
  }

  window.addEventListener("beforeunload", (event) => {
    if (unsaved().length || busy) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- What the page shows beside the fields --------------------------------------------

  // The Sending box as the server draws it for a draft edited after approval.
  function reopenedHere() {
    const box = document.getElementById("lifecycle");
    if (!box) return;
    let note = document.getElementById("reopened-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "warning";
      note.id = "reopened-note";
      note.setAttribute("role", "alert");
      box.querySelector("h2").after(note);
    }
    note.textContent = "Edited after approval: back to draft, it will not be sent. " +
      "Approve again to send.";
    document.getElementById("planned")?.remove();
    document.getElementById("back-to-draft")?.remove();
    const approve = box.querySelector("#approve button[type=submit]");
    if (approve) approve.textContent = "Approve";
  }

  // `own`: the answer is this page's change alone. Then the subject, preheader and intro as
  // stored follow into their fields where nothing is typed (the built copy follows a new
  // lead); after another window's change they are left as they are, and the notice says so.
  function showState(data, own) {
    if (data.render && data.render !== render) {
      render = data.render;
      refreshPreview();
    }
    if (own) {
      for (const key of ["subject", "preheader", "intro"]) follow(key, data[key]);
      // An edit of an approved edition put it back to draft: this page's doing, said where
      // the page says when it will be sent, at once (not only after a reload).
      const status = document.getElementById("status");
      if (status && data.status) {
        if (status.textContent.trim() === "approved" && data.status === "draft") reopenedHere();
        status.textContent = data.status;
      }
    }
    showInbox();
    const size = document.getElementById("size");
    if (size) {
      size.textContent = `${data.size_kb.toFixed(1)} KB`;
      size.className = data.over ? "over" : "";
    }
    const findings = document.getElementById("findings");
    if (findings) {
      findings.replaceChildren(...(data.findings.length ? data.findings : [null]).map((f) => {
        const li = document.createElement("li");
        li.className = f ? f.severity : "notice";
        li.textContent = f ? `${f.severity}: ${f.message}` : "No lint findings.";
        return li;
      }));
    }
    const text = document.getElementById("text");
    if (text && typeof data.text === "string") text.textContent = data.text;
  }

  function follow(key, value) {
    const entry = fields.get(key);
    if (!entry || typeof value !== "string" || entry.state !== "saved") return;
    if (entry.at !== version || folded(entry.base) === folded(value)) return;
    entry.el.value = value;
    entry.base = value;
  }

  function folded(text) { return String(text).split(/\s+/).filter(Boolean).join(" "); }

  // The inbox line shows this page's own subject and preheader, as typed: never words that
  // another window saved (those are in the preview, and the notice names the field).
  function showInbox() {
    for (const key of ["subject", "preheader"]) {
      const line = document.getElementById(`inbox-${key}`);
      const entry = fields.get(key);
      if (line && entry) line.textContent = entry.el.value;
    }
  }

  function refreshPreview() {
    const frame = document.getElementById("preview");
    if (!frame) return;
    let scrolled = 0;
    try { scrolled = frame.contentWindow.scrollY; } catch (error) { scrolled = 0; }
    frame.addEventListener("load", () => {
      try { frame.contentWindow.scrollTo(0, scrolled); } catch (error) { /* nothing to keep */ }
    }, {once: true});
    frame.src = frame.src.split("#")[0];
  }

  // --- Changes made elsewhere -----------------------------------------------------------

  // The notice names what changed (the subject, a story's summary, the order…) by comparing
  // the stored fields with what this page last saved or loaded; it quotes only this page's
  // own headlines, never the other window's words, and it changes no field.
  let described = 0;  // the newest version the notice describes
  let describing = false;
  let wanted = false;  // asked again while a look was under way

  async function changedElsewhere() {
    if (!elsewhere) return;
    elsewhere.hidden = false;
    wanted = true;
    if (describing) return;
    describing = true;
    try {
      while (wanted) {
        wanted = false;
        await describe();
      }
    } finally {
      describing = false;
    }
  }

  async function describe() {
    let data;
    try {
      const answer = await fetch(`/editions/${editionId}/fields`, {cache: "no-store"});
      if (!answer.ok) return;
      data = await answer.json();
    } catch (error) { return; }
    if (data.version <= described) return;
    described = data.version;
    const words = elsewhere.querySelector("[data-what]");
    if (words) words.textContent = whatChanged(data);
  }

  function headline(article) {
    const entry = fields.get(`article:${article}:title`);
    const text = folded(entry ? entry.base : `article ${article}`);
    return `“${text.length > 48 ? text.slice(0, 47) + "…" : text}”`;
  }

  const NAMES = {title: "headline", author: "byline", source: "source", published: "date",
                 url: "link", summary: "summary", image: "picture"};

  function label(key) {
    const [kind, index, name] = key.split(":");
    if (!index) return `the ${kind}`;
    if (kind === "section") return `the title of section ${Number(index) + 1}`;
    return `the ${NAMES[name] || name} of ${headline(index)}`;
  }

  function whatChanged(data) {
    const changed = [];
    for (const [key, entry] of fields) {
      if (key in data.fields && folded(data.fields[key]) !== folded(entry.base)) {
        changed.push(label(key));
      }
    }
    const mine = layout().map((p) => p.articles);
    const theirs = data.layout;
    const ids = (order) => order.flat().map(String).sort().join(",");
    if (ids(mine) !== ids(theirs)) changed.push("which stories it holds");
    else if (JSON.stringify(mine) !== JSON.stringify(theirs)) changed.push("the order");
    const status = document.getElementById("status");
    if (status && data.status !== status.textContent.trim()) {
      changed.push(`its state (now ${data.status})`);
    }
    if (!changed.length) return "Changed in another window.";
    const shown = changed.length > 4 ? [...changed.slice(0, 3), `${changed.length - 3} more`]
                                     : changed;
    const list = shown.length > 1
      ? `${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}` : shown[0];
    return `Changed in another window: ${list}.`;
  }

  const reload = document.getElementById("reload");
  if (reload) {
    reload.addEventListener("click", async () => {
      await flush();
      location.reload();
    });
  }

  async function poll() {
    if (busy || structureBusy) return;
    try {
      const answer = await fetch(`/editions/${editionId}/version`, {cache: "no-store"});
      const data = await answer.json();
      if (busy || structureBusy) return;  // our own save may have moved it: next time
      if (data.version > version && data.version > described) changedElsewhere();
      // The preview is the email as stored (a template changed, or another window's edit).
      if (data.render !== render) { render = data.render; refreshPreview(); }
    } catch (error) { /* the server restarts: try again next time */ }
  }
  setInterval(poll, 1500);

  // --- Structure ------------------------------------------------------------------------

  const container = document.getElementById("sections");

  function layout() {
    return [...container.querySelectorAll(".section")].map((section) => ({
      section: Number(section.dataset.section),
      articles: [...section.querySelectorAll(".item")].map((item) => Number(item.dataset.article)),
    }));
  }

  async function change(body, focus) {
    await flush();
    structureBusy = true;
    let answer;
    let based = version;
    try {
      answer = await serially(() => {
        based = version;
        return post("arrange", {version, ...body});
      });
    } finally {
      structureBusy = false;
    }
    const {status, data} = answer;
    if (status === 200) {
      // Refused on any version but the page's: the answer is this page's change alone.
      advance(based, data.version);
      placeRemoved(data.removed);
      placeSections(data.sections, focus);
      showState(data, true);
      say("All changes saved");
    } else {
      if (status === 409) changedElsewhere();
      // Put the page back as the server has it (a drag is undone).
      say(`Not saved: ${data.error || "the server answered " + status}`);
      if (status !== 409 && data.sections) placeSections(data.sections, focus);
    }
  }

  function say(words) { if (saveState) saveState.textContent = words; }

  function placeSections(html, focus) {
    container.innerHTML = html;
    for (const el of container.querySelectorAll("[data-key]")) register(el);
    // Fields that went (a removed story): forget them.
    for (const [key, entry] of fields) {
      if (!document.contains(entry.el)) fields.delete(key);
    }
    wire();
    if (focus) {
      const target = document.querySelector(focus);
      if (target) target.focus();
    }
  }

  // The stories removed from the edition, as the server keeps them (after a reload, or
  // removed in another window, they are still offered back).
  const removedBox = document.getElementById("removed");

  function placeRemoved(html) {
    if (!removedBox || typeof html !== "string") return;
    removedBox.innerHTML = html;
    removedBox.hidden = !removedBox.querySelector("li");
  }

  if (removedBox) {
    removedBox.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action=restore]");
      if (!button) return;
      const article = Number(button.dataset.article);
      change({op: "restore", article}, `#article-${article} [data-action=remove]`);
    });
  }

  function moved(order, from, to) {
    const [taken] = order.splice(from, 1);
    order.splice(to, 0, taken);
    return order;
  }

  function onClick(event) {
    const button = event.target.closest("button[data-action]");
    if (!button || !container.contains(button)) return;
    const item = button.closest(".item");
    const section = button.closest(".section");
    const s = Number(section.dataset.section);
    const article = item ? Number(item.dataset.article) : null;
    const order = layout();
    const position = order.findIndex((p) => p.section === s);
    const again = (action) => item
      ? `#article-${article} [data-action=${action}]`
      : `.section[data-section="${s}"] [data-action=${action}]`;
    switch (button.dataset.action) {
      case "up":
      case "down": {
        const articles = order[position].articles;
        const from = articles.indexOf(article);
        const to = from + (button.dataset.action === "up" ? -1 : 1);
        if (to < 0 || to >= articles.length) return;
        moved(articles, from, to);
        change({op: "layout", layout: order}, again(button.dataset.action));
        break;
      }
      case "move": {
        const target = Number(item.querySelector("[data-move-to]").value);
        if (target === s) return;
        order[position].articles = order[position].articles.filter((a) => a !== article);
        order.find((p) => p.section === target).articles.push(article);
        change({op: "layout", layout: order}, `#article-${article} [data-move-to]`);
        break;
      }
      case "section-up":
      case "section-down": {
        const to = position + (button.dataset.action === "section-up" ? -1 : 1);
        if (to < 0 || to >= order.length) return;
        moved(order, position, to);
        // After the move this section has index `to`.
        change({op: "layout", layout: order},
               `.section[data-section="${to}"] [data-action=${button.dataset.action}]`);
        break;
      }
      case "merge": {
        const into = Number(section.querySelector("[data-merge-into]").value);
        change({op: "merge", section: s, into});
        break;
      }
      case "split": {
        const ticked = [...section.querySelectorAll(".item")]
          .filter((i) => i.querySelector("[data-tick]").checked)
          .map((i) => Number(i.dataset.article));
        const title = section.querySelector("[data-split-title]").value;
        // Said beside the button, the panel left open with what was typed.
        const problem = section.querySelector("[data-split-problem]");
        const missing = !ticked.length
          ? "Tick the stories the new section takes (the box beside each headline)."
          : !title.trim() ? "Name the new section." : "";
        if (problem) {
          problem.textContent = missing;
          problem.hidden = !missing;
        }
        if (missing) break;
        change({op: "split", section: s, articles: ticked, title});
        break;
      }
      case "remove":
        change({op: "remove", article}, `#removed li[data-article="${article}"] button`);
        break;
      case "regenerate": {
        // The editor's words in the summary go: asked first (Playwright and people alike).
        const entry = fields.get(`item:${article}:summary`);
        const typed = entry && entry.el.value.trim();
        if (typed && !window.confirm("Replace this summary with a new one from the article? " +
                                     "The words in it now are lost.")) break;
        change({op: "regenerate", article}, again("regenerate"));
        break;
      }
      case "split-report":
        change({op: "split_report", article, report: Number(button.dataset.report)});
        break;
      default:
        break;
    }
  }

  // Drag and drop (SortableJS, the browser's own drag and drop; touch screens get its
  // emulation). While a story is dragged, a drop on one of the page's fields never puts text
  // in it: the drag carries the headline alone, and the drop is the story's.
  const sortables = [];
  let dragging = false;

  if (container) {
    container.addEventListener("drop", (event) => {
      if (dragging) event.preventDefault();
    }, true);
  }

  // A story lands where it is let go. SortableJS places it as the pointer passes over other
  // stories; a drag quicker than that (a single drag event, as automation makes, or let go
  // on a story's fields) would leave it where it was: it is then put before the story under
  // the pointer (after it, below its middle), or at the end of the section let go on.
  function placeWhereLetGo(event) {
    const point = event.originalEvent;
    if (!point || !(point.clientX || point.clientY)) return false;
    const under = document.elementFromPoint(point.clientX, point.clientY);
    const story = event.item;
    if (!under || !container.contains(under) || story.contains(under)) return false;
    const target = under.closest(".item");
    if (target) {
      const box = target.getBoundingClientRect();
      const after = point.clientY > box.top + box.height / 2;
      target.parentNode.insertBefore(story, after ? target.nextSibling : target);
      return true;
    }
    const section = under.closest(".section");
    const list = section && section.querySelector(".items");
    if (!list || list.contains(story)) return false;
    list.append(story);
    return true;
  }

  function wire() {
    while (sortables.length) sortables.pop().destroy();
    if (!editable || typeof Sortable === "undefined") return;
    const unmoved = (event) => event.from === event.to && event.oldIndex === event.newIndex;
    const storyDropped = (event) => {
      dragging = false;
      if (unmoved(event) && !placeWhereLetGo(event)) return;
      change({op: "layout", layout: layout()});
    };
    const headline = (item) => {
      const field = item.querySelector("[data-key$=':title']");
      return field ? field.value : "";
    };
    for (const list of container.querySelectorAll(".items")) {
      sortables.push(Sortable.create(list, {
        group: "items", handle: ".handle", animation: 150,
        onStart: () => { dragging = true; },
        onEnd: storyDropped,
        setData: (data, item) => data.setData("text/plain", headline(item)),
      }));
    }
    sortables.push(Sortable.create(container, {
      handle: ".section-handle", draggable: ".section", animation: 150,
      onEnd: (event) => { if (!unmoved(event)) change({op: "layout", layout: layout()}); },
      setData: (data, section) => data.setData("text/plain", headline(section)),
    }));
  }

  // The page's forms (add articles, approve, a test copy) load a new page: what is typed is
  // saved first, so that nothing is asked about or lost on the way.
  root.addEventListener("submit", async (event) => {
    const form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if (!unsaved().length && !busy) return;
    event.preventDefault();
    await flush();
    if (!unsaved().length) form.submit();
  });

  for (const el of document.querySelectorAll("[data-key]")) register(el);
  if (container) {
    container.addEventListener("click", onClick);
    wire();
  }
})();
