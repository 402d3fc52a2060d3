// byosms console: progressive enhancement only; every screen works without this script.
"use strict";

const FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), " +
  "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

function modalDialogs() {
  for (const dialog of document.querySelectorAll("dialog[data-modal]")) {
    dialog.close();
    dialog.showModal();
    // Escape (the dialog's cancel event) leaves the dialog the way its Cancel link does.
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      window.location.assign(dialog.dataset.closeUrl);
    });
    // Tab and Shift+Tab cycle within the dialog instead of leaving the page.
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const focusable = Array.from(dialog.querySelectorAll(FOCUSABLE)).filter((e) => !e.closest("[hidden]"));
      if (focusable.length === 0) return;
      const first = focusable[0], last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
    const alert = dialog.querySelector("[role=alert]");
    const first = dialog.querySelector("input:not([type=hidden]), select, textarea, button:not([disabled])");
    if (alert && first) first.focus();
  }
}

function copyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      const status = document.getElementById("copy-status");
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch (_error) {
        document.execCommand("copy");
      }
      if (status) status.textContent = status.dataset.copied;
    });
  }
}

function tabs() {
  for (const set of document.querySelectorAll("[data-tabs]")) {
    const list = Array.from(set.querySelectorAll("[role=tab]"));
    const select = (tab, focus) => {
      for (const other of list) {
        const selected = other === tab;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.tabIndex = selected ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
      }
      if (focus) tab.focus();
    };
    list.forEach((tab, index) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (step) {
          event.preventDefault();
          select(list[(index + step + list.length) % list.length], true);
        } else if (event.key === "Home" || event.key === "End") {
          event.preventDefault();
          select(event.key === "Home" ? list[0] : list[list.length - 1], true);
        }
      });
    });
    for (const heading of set.querySelectorAll(".panel-title")) heading.hidden = true;
    select(list.find((tab) => tab.getAttribute("aria-selected") === "true") || list[0], false);
  }
}

function shortcodeFields() {
  for (const select of document.querySelectorAll("[data-shortcode-toggle]")) {
    const field = document.getElementById(select.dataset.shortcodeToggle);
    const update = () => { field.hidden = select.value !== "shortcode"; };
    select.addEventListener("change", update);
    update();
  }
}

function importProgress() {
  const box = document.querySelector("[data-import-poll]");
  if (!box) return;
  const interval = Number(box.dataset.interval) || 500;
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.importPoll, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const { state } = await response.json();
        if (state === "imported") return window.location.assign(box.dataset.successUrl);
        if (state === "rejected") return document.getElementById("import-retry").submit();
      }
    } catch (_error) {
      // The console or the API is away for a moment: keep asking.
    }
    window.setTimeout(poll, interval);
  };
  window.setTimeout(poll, interval);
}

document.addEventListener("DOMContentLoaded", () => {
  tabs();
  shortcodeFields();
  copyButtons();
  importProgress();
  modalDialogs();
});
