// Models tab, "Try a prompt": sends one prompt to a ready deployment through the streaming
// endpoint (POST /api/llm/models/{id}/inference with stream: true) and shows the answer as its
// pieces arrive. Stop aborts the request, which ends the replica's stream on the head too.

import { csrfToken, detailText } from "./api.js";
import { $, h, setText } from "./dom.js";

let controller = null;

/** Keep the deployment choices in step with the ready deployments (the choice stays if it can). */
export function offer(deployments) {
  const select = $("try-deployment");
  const ready = deployments.filter((d) => d.status === "ready").map((d) => d.deployment_id);
  const current = [...select.options].map((o) => o.value);
  if (ready.join() !== current.join()) {
    const chosen = select.value;
    select.replaceChildren(...ready.map((id) => h("option", { value: id, text: id })));
    if (ready.includes(chosen)) select.value = chosen;
  }
  $("try-submit").disabled = ready.length === 0 || controller !== null;
  setText("try-hint", ready.length ? "" : "Deploy a model, or start a stopped one, to try it here.");
}

/** Server-sent events from a fetch body: calls onEvent with each `data:` JSON object. */
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 2);
      if (line.startsWith("data:")) onEvent(JSON.parse(line.slice(5)));
      end = buffer.indexOf("\n\n");
    }
  }
}

async function send(event) {
  event.preventDefault();
  const id = $("try-deployment").value;
  const prompt = $("try-prompt").value;
  const maxTokens = Number($("try-max-tokens").value);
  setText("try-error", "");
  if (!id) return setText("try-error", "No ready deployment to ask.");
  if (!prompt.trim()) return setText("try-error", "Write a prompt first.");
  if (!Number.isInteger(maxTokens) || maxTokens < 1) return setText("try-error", "Max tokens must be a whole number, at least 1.");
  const output = $("try-output");
  output.textContent = "";
  setText("try-stats", "generating…");
  controller = new AbortController();
  $("try-submit").disabled = true;
  $("try-stop").hidden = false;
  try {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const csrf = csrfToken();
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(`/api/llm/models/${encodeURIComponent(id)}/inference`, {
      method: "POST",
      headers,
      body: JSON.stringify({ prompt, max_tokens: maxTokens, stream: true }),
      credentials: "same-origin",
      signal: controller.signal,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(detailText(body, response.status));
    }
    await readEvents(response, (e) => {
      if (e.text) output.append(e.text); // text nodes: the model's answer is never HTML
      if (e.error) throw new Error(e.error.message);
      if (e.done) {
        const r = e.result;
        setText("try-stats", `${r.tokens_generated} tokens · ${Math.round(r.latency_ms)} ms · ${r.finish_reason}`);
      }
    });
  } catch (error) {
    if (error.name === "AbortError") setText("try-stats", "stopped");
    else {
      setText("try-stats", "");
      setText("try-error", error.message);
    }
  } finally {
    controller = null;
    $("try-submit").disabled = false;
    $("try-stop").hidden = true;
  }
}

export function init() {
  $("try-form").addEventListener("submit", send);
  $("try-stop").addEventListener("click", () => controller && controller.abort());
}
