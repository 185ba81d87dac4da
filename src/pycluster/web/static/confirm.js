// One confirmation dialog for every destructive action: it says what the action will stop.
//
//   import { confirmAction } from "./confirm.js";
//   if (!(await confirmAction({
//     title: "Cancel job job_1a2b?",
//     message: "Its 3 running pieces are stopped (their worker processes restart); 5 queued pieces never run.",
//     confirmText: "Cancel job",
//   }))) return;
//
// A native <dialog> (showModal): focus stays inside it, Escape or the backdrop answers "no",
// and focus starts on the safe button, so a stray Enter stops nothing. Resolves true only when
// the person pressed the confirm button; focus goes back to what had it before.

import { h } from "./dom.js";

let open = null; // one question at a time: a second one answers the first "no"

export function confirmAction({ title, message, confirmText = "Confirm", cancelText = "Keep it", danger = true }) {
  if (open) open.close("no");
  const before = document.activeElement;
  const keep = h("button", { class: "ghost", type: "button", value: "no", text: cancelText });
  const yes = h("button", { class: danger ? "danger" : "primary", type: "button", value: "yes", text: confirmText });
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-message" },
    h("h2", { id: "confirm-title", text: title }),
    h("p", { id: "confirm-message", text: message }),
    h("div", { class: "confirm-buttons" }, keep, yes),
  );
  document.body.append(dialog);
  open = dialog;
  return new Promise((resolve) => {
    keep.addEventListener("click", () => dialog.close("no"));
    yes.addEventListener("click", () => dialog.close("yes"));
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close("no"); // the backdrop
    });
    dialog.addEventListener("close", () => {
      if (open === dialog) open = null;
      dialog.remove();
      if (before && typeof before.focus === "function" && before.isConnected) before.focus();
      resolve(dialog.returnValue === "yes");
    });
    dialog.showModal();
    keep.focus();
  });
}
