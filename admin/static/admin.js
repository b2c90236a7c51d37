// Progressive enhancements of the admin page; every form works without them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="INPUT-ID" hidden>, shown when the
  // clipboard can be used.
  for (const b of document.querySelectorAll("button[data-copy]")) {
    const input = document.getElementById(b.dataset.copy);
    if (!input || !navigator.clipboard) continue;
    b.hidden = false;
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        b.textContent = "Copied";
      } catch {
        input.select();
        b.textContent = "Press Ctrl+C";
      }
      setTimeout(() => { b.textContent = "Copy"; }, 2500);
    });
  }
  // Select the whole link when its field gets the focus.
  for (const i of document.querySelectorAll("input[readonly]")) {
    i.addEventListener("focus", () => i.select());
  }
  // Ask before what is hard to undo.
  for (const b of document.querySelectorAll("button[data-confirm]")) {
    b.addEventListener("click", (e) => {
      if (!window.confirm(b.dataset.confirm)) e.preventDefault();
    });
  }
  // Mark a site row whose checkbox differs from what is saved.
  for (const c of document.querySelectorAll(".site-row input.toggle")) {
    const saved = c.checked;
    c.addEventListener("change", () => {
      c.closest(".site-row").classList.toggle("dirty", c.checked !== saved);
    });
  }
});
