// Asking before a destructive action. The browser's own confirm() for now: the shared confirm
// dialog (dash-jobs) replaces this one function when it lands.

/** True when the person agreed to `action`; `consequence` says what it will stop. */
export async function confirmAction(action, consequence) {
  return window.confirm(`${action}?\n\n${consequence}`);
}
