// Keel's chat page. It talks to /api only; see docs/web-and-api.md.
//
// Text from the server (answers, titles, passages, errors) only ever goes
// into the page as text nodes or through KeelMarkdown, which builds nodes
// too: no innerHTML anywhere.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const KEY = "keel.apiKey";
  const MODEL = "keel.model";
  const COLLECTION = "keel.collection";

  const ui = {
    list: $("conversations"),
    messages: $("messages"),
    empty: $("empty"),
    input: $("input"),
    send: $("send"),
    composer: $("composer"),
    model: $("model"),
    collection: $("collection"),
    collectionLabel: $("collection-label"),
    keyForm: $("key-form"),
    key: $("api-key"),
    keyStatus: $("key-status"),
    preview: $("preview"),
  };

  let conversationId = null;
  let running = null; // the AbortController of the answer being streamed

  class AuthError extends Error {}

  function storage(name, value) {
    try {
      if (value === undefined) return localStorage.getItem(name);
      if (value === null) localStorage.removeItem(name);
      else localStorage.setItem(name, value);
    } catch {
      return null; // storage disabled: the page still works for this visit
    }
  }

  // api fetches an /api path with the saved key; a 401 shows the key form.
  async function api(path, opts = {}) {
    const headers = new Headers(opts.headers || {});
    const key = storage(KEY);
    if (key) headers.set("Authorization", "Bearer " + key);
    const res = await fetch(path, { ...opts, headers });
    if (res.status === 401) {
      showKeyForm(key ? "That key was refused. Enter another." : "This server needs an API key.");
      throw new AuthError("unauthorized");
    }
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try {
        msg = (await res.json()).error.message || msg;
      } catch {
        // not JSON: keep the status line
      }
      throw new Error(msg);
    }
    return res;
  }

  function showKeyForm(message) {
    ui.keyForm.hidden = false;
    ui.keyStatus.textContent = message;
    ui.key.focus();
  }

  ui.keyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = ui.key.value.trim();
    storage(KEY, v || null);
    ui.key.value = "";
    ui.keyForm.hidden = true;
    ui.keyStatus.textContent = "";
    load();
  });

  // --- pickers and the conversation list ---------------------------------

  async function loadModels() {
    const { models } = await (await api("/api/models")).json();
    const saved = storage(MODEL);
    ui.model.replaceChildren();
    for (const m of models) {
      const o = new Option(m.id === m.target ? m.id : `${m.id} (${m.target})`, m.id);
      o.selected = saved ? m.id === saved : m.default;
      ui.model.append(o);
    }
  }

  async function loadCollections() {
    let collections;
    try {
      ({ collections } = await (await api("/api/collections")).json());
    } catch (err) {
      if (err instanceof AuthError) throw err;
      ui.collectionLabel.hidden = true; // collections are off on this server
      return;
    }
    const saved = storage(COLLECTION) || "";
    ui.collection.replaceChildren(new Option("None", ""));
    for (const c of collections) {
      const o = new Option(`${c.name} (${c.documents} ${c.documents === 1 ? "document" : "documents"})`, c.name);
      o.selected = c.name === saved;
      ui.collection.append(o);
    }
    ui.collectionLabel.hidden = false;
  }

  ui.model.addEventListener("change", () => storage(MODEL, ui.model.value));
  ui.collection.addEventListener("change", () => storage(COLLECTION, ui.collection.value || null));

  async function loadConversations() {
    const { conversations } = await (await api("/api/conversations?limit=100")).json();
    ui.list.replaceChildren();
    for (const c of conversations) {
      const li = document.createElement("li");
      li.dataset.id = c.id;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "conversation";
      open.textContent = c.title || "Untitled";
      open.title = c.title;
      if (c.id === conversationId) open.setAttribute("aria-current", "true");
      open.addEventListener("click", () => openConversation(c.id));
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.textContent = "×";
      del.setAttribute("aria-label", `Delete conversation “${c.title}”`);
      del.addEventListener("click", () => deleteConversation(c.id));
      li.append(open, del);
      ui.list.append(li);
    }
  }

  function markActive() {
    for (const b of ui.list.querySelectorAll("button.conversation")) {
      if (b.parentElement.dataset.id === conversationId) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
  }

  async function openConversation(id) {
    if (running) return;
    try {
      const { messages } = await (await api("/api/conversations/" + encodeURIComponent(id))).json();
      conversationId = id;
      clearMessages();
      for (const m of messages) {
        if (m.role === "user" && m.text) addMessage("user").setText(m.text);
        if (m.role !== "assistant") continue;
        for (const call of m.tool_calls || []) addTool(call);
        if (!m.text) continue;
        const a = addMessage("assistant");
        a.citations = m.citations || [];
        a.setText(m.text);
        a.setUsage({ ...(m.usage || {}), cost_usd: m.cost_usd || 0, latency_ms: m.latency_ms || 0, model: m.model });
        a.showSources();
      }
      markActive();
      ui.input.focus();
    } catch (err) {
      report(err);
    }
  }

  async function deleteConversation(id) {
    try {
      await api("/api/conversations/" + encodeURIComponent(id), { method: "DELETE" });
      if (id === conversationId) newChat();
      await loadConversations();
    } catch (err) {
      report(err);
    }
  }

  function newChat() {
    if (running) running.abort();
    conversationId = null;
    clearMessages();
    markActive();
    ui.input.focus();
  }
  $("new-chat").addEventListener("click", newChat);

  // --- messages ----------------------------------------------------------

  function clearMessages() {
    ui.messages.replaceChildren(ui.empty);
    ui.empty.hidden = false;
    hidePreview();
  }

  // addMessage appends a message and returns its controller.
  function addMessage(role) {
    ui.empty.hidden = true;
    const el = document.createElement("article");
    el.className = "msg " + role;
    el.setAttribute("aria-label", role === "user" ? "You" : "Keel");
    const body = document.createElement("div");
    body.className = "body";
    const meta = document.createElement("div");
    meta.className = "meta";
    el.append(body, meta);
    ui.messages.append(el);
    let pending = false;
    const m = {
      el,
      text: "",
      citations: [],
      setText(t) {
        m.text = t;
        m.render();
      },
      append(t) {
        m.text += t;
        // One render per frame, however fast deltas arrive.
        if (!pending) {
          pending = true;
          requestAnimationFrame(() => {
            pending = false;
            m.render();
          });
        }
      },
      render() {
        if (role === "user") body.textContent = m.text;
        else body.replaceChildren(KeelMarkdown.render(m.text, { cite: (n) => citeButton(m, n) }));
        scrollDown();
      },
      setUsage(u) {
        const input = (u.input_tokens || 0) + (u.cache_read_tokens || 0) + (u.cache_write_tokens || 0);
        const parts = [`${input} in · ${u.output_tokens || 0} out tokens`, money(u.cost_usd || 0)];
        if (u.latency_ms) parts.push((u.latency_ms / 1000).toFixed(1) + " s");
        if (u.model) parts.push(u.model);
        meta.textContent = parts.join(" · ");
      },
      fail(msg) {
        const e = document.createElement("div");
        e.className = "error";
        e.setAttribute("role", "alert");
        e.textContent = msg;
        el.append(e);
      },
      // showSources lists the passages the answer cites, in order.
      showSources() {
        const cited = new Set([...m.text.matchAll(/\[(\d{1,3})\]/g)].map((x) => Number(x[1])));
        const used = m.citations.filter((c) => cited.has(c.index));
        if (!used.length) return;
        const ol = document.createElement("ol");
        ol.className = "sources";
        ol.setAttribute("aria-label", "Sources");
        for (const c of used) {
          const li = document.createElement("li");
          li.value = c.index;
          li.append(citeButton(m, c.index), document.createTextNode(" " + label(c)));
          ol.append(li);
        }
        el.insertBefore(ol, meta);
      },
    };
    return m;
  }

  function addTool(call) {
    ui.empty.hidden = true;
    const el = document.createElement("div");
    el.className = "tool";
    const head = document.createElement("div");
    head.textContent = `Tool ${call.name}(${JSON.stringify(call.input ?? {})})`;
    const out = document.createElement("pre");
    out.className = "tool-output";
    el.append(head, out);
    ui.messages.append(el);
    scrollDown();
    return {
      result(r) {
        out.textContent = r.output.length > 2000 ? r.output.slice(0, 2000) + "…" : r.output;
        if (r.is_error) el.classList.add("failed");
      },
    };
  }

  function scrollDown() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function money(usd) {
    if (!usd) return "$0";
    return "$" + (usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(4));
  }

  function label(c) {
    return [c.title || c.source || c.doc_id, c.heading].filter(Boolean).join(" › ");
  }

  function report(err) {
    if (err instanceof AuthError) return; // the key form says it
    const m = addMessage("assistant");
    m.fail(err.message || String(err));
  }

  // --- citations ------------------------------------------------------------

  function citeButton(m, n) {
    const c = m.citations.find((x) => x.index === n);
    if (!c) return null; // a number the model invented: left as plain text
    const b = document.createElement("button");
    b.type = "button";
    b.className = "cite";
    b.textContent = `[${n}]`;
    b.setAttribute("aria-label", `Source ${n}: ${label(c)}`);
    b.setAttribute("aria-describedby", "preview");
    b.addEventListener("mouseenter", () => showPreview(b, c));
    b.addEventListener("focus", () => showPreview(b, c));
    b.addEventListener("mouseleave", () => hidePreview(b));
    b.addEventListener("blur", () => hidePreview(b));
    b.addEventListener("click", () => {
      if (ui.preview.dataset.pinned === "true" && ui.preview.owner === b) hidePreview();
      else {
        showPreview(b, c);
        ui.preview.dataset.pinned = "true";
      }
    });
    return b;
  }

  function showPreview(anchor, c) {
    const p = ui.preview;
    p.owner = anchor;
    p.dataset.pinned = "false";
    const title = document.createElement("strong");
    title.textContent = `[${c.index}] ${c.title || c.doc_id}`;
    const where = document.createElement("div");
    where.className = "where";
    where.textContent = [c.source, c.heading].filter(Boolean).join(" › ");
    const snippet = document.createElement("p");
    snippet.className = "snippet";
    snippet.textContent = c.snippet;
    p.replaceChildren(title, where, snippet);
    p.hidden = false;
    const r = anchor.getBoundingClientRect();
    const width = Math.min(420, window.innerWidth - 16);
    p.style.width = width + "px";
    p.style.left = Math.max(8, Math.min(r.left, window.innerWidth - width - 8)) + "px";
    const below = r.bottom + 6;
    p.style.top = (below + p.offsetHeight < window.innerHeight ? below : Math.max(8, r.top - p.offsetHeight - 6)) + "px";
  }

  function hidePreview(from) {
    const p = ui.preview;
    if (from && (p.owner !== from || p.dataset.pinned === "true")) return;
    p.hidden = true;
    p.dataset.pinned = "false";
    p.owner = null;
  }

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") hidePreview();
  });
  document.addEventListener("click", (e) => {
    if (!e.target.closest(".cite") && !e.target.closest("#preview")) hidePreview();
  });

  // --- sending and streaming ---------------------------------------------

  // sse yields {event, data} for each event of a text/event-stream body.
  // (EventSource cannot POST, hence fetch and a stream reader.)
  async function* sse(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
        let event = "message";
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(":")) continue; // a heartbeat comment
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "event") event = val;
          else if (field === "data") data.push(val);
        }
        if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
      }
    }
  }

  function setRunning(ctrl) {
    running = ctrl;
    ui.send.textContent = ctrl ? "Stop" : "Send";
    ui.send.classList.toggle("stop", !!ctrl);
    ui.messages.setAttribute("aria-busy", ctrl ? "true" : "false");
  }

  async function send() {
    const text = ui.input.value;
    if (!text.trim() || running) return;
    ui.input.value = "";
    addMessage("user").setText(text);
    const answer = addMessage("assistant");
    answer.el.classList.add("streaming");
    const req = { message: text };
    if (conversationId) req.conversation_id = conversationId;
    if (ui.model.value) req.model = ui.model.value;
    if (ui.collection.value && !ui.collectionLabel.hidden) req.collection = ui.collection.value;

    const ctrl = new AbortController();
    setRunning(ctrl);
    const tools = new Map();
    let finished = false;
    try {
      const res = await api("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(req),
        signal: ctrl.signal,
      });
      for await (const { event, data } of sse(res.body)) {
        switch (event) {
          case "conversation":
            conversationId = data.id;
            if (data.created) loadConversations().catch(report);
            break;
          case "citations":
            answer.citations = data.citations;
            break;
          case "delta":
            answer.append(data.text);
            break;
          case "tool_call":
            tools.set(data.id, addTool(data));
            break;
          case "tool_result":
            tools.get(data.id)?.result(data);
            break;
          case "usage":
            answer.setUsage(data);
            break;
          case "error":
            answer.fail(data.message);
            finished = true;
            break;
          case "done":
            answer.el.dataset.seq = data.message_seq;
            finished = true;
            loadConversations().catch(report);
            break;
        }
      }
      if (!finished) answer.fail("The connection closed before the answer finished.");
    } catch (err) {
      if (err.name === "AbortError") answer.fail("Stopped.");
      else if (!(err instanceof AuthError)) answer.fail(err.message || String(err));
    } finally {
      answer.render();
      answer.showSources();
      answer.el.classList.remove("streaming");
      setRunning(null);
      markActive();
    }
  }

  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    if (running) running.abort();
    else send();
  });
  ui.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });

  async function load() {
    try {
      await Promise.all([loadModels(), loadCollections(), loadConversations()]);
      document.body.dataset.ready = "true";
    } catch (err) {
      report(err);
    }
  }

  load();
  ui.input.focus();
})();
