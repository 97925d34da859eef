// A small, safe Markdown renderer for model answers.
//
// It builds DOM nodes and never parses HTML: every piece of text becomes a
// text node, so markup in an answer (or in a retrieved passage the model
// quotes) is shown as text and can never run. That is "escape first" taken
// to its end: there is no string of HTML to escape. Supported: headings,
// paragraphs, emphasis, inline code, fenced code blocks, lists, block
// quotes, links (http and https only) and citation markers [n].
"use strict";

(function () {
  // Inline tokens, in priority order within one alternation.
  const INLINE = new RegExp(
    [
      "`([^`\\n]+)`", // 1 code
      "\\[([^\\]\\n]+)\\]\\((https?:\\/\\/[^\\s)]+)\\)", // 2,3 link
      "\\[(\\d{1,3})\\]", // 4 citation
      "\\*\\*([^*\\n]+?)\\*\\*", // 5 bold
      "__([^_\\n]+?)__", // 6 bold
      "\\*([^*\\s](?:[^*\\n]*?[^*\\s])?)\\*", // 7 italic
      "(?<![\\w])_([^_\\s](?:[^_\\n]*?[^_\\s])?)_(?![\\w])", // 8 italic
    ].join("|"),
    "g",
  );

  function el(tag, cls) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  function safeURL(s) {
    try {
      const u = new URL(s);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch {
      return null;
    }
  }

  // inline appends the inline content of text to parent.
  function inline(parent, text, opts) {
    let last = 0;
    INLINE.lastIndex = 0;
    for (let m; (m = INLINE.exec(text)); ) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      last = INLINE.lastIndex;
      if (m[1] !== undefined) {
        parent.append(Object.assign(el("code"), { textContent: m[1] }));
      } else if (m[2] !== undefined) {
        const href = safeURL(m[3]);
        if (!href) {
          parent.append(document.createTextNode(m[0]));
          continue;
        }
        const a = el("a");
        a.href = href;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        inline(a, m[2], opts);
        parent.append(a);
      } else if (m[4] !== undefined) {
        const node = opts.cite ? opts.cite(Number(m[4])) : null;
        parent.append(node || document.createTextNode(m[0]));
      } else if (m[5] !== undefined || m[6] !== undefined) {
        const s = el("strong");
        inline(s, m[5] ?? m[6], opts);
        parent.append(s);
      } else {
        const s = el("em");
        inline(s, m[7] ?? m[8], opts);
        parent.append(s);
      }
      // The recursive calls reset the shared regex; resume where we were.
      INLINE.lastIndex = last;
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  }

  const FENCE = /^\s{0,3}(```|~~~)\s*([\w+-]*)\s*$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const BULLET = /^\s*[-*+]\s+(.*)$/;
  const ORDERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

  // render returns a DocumentFragment for the Markdown text. opts.cite(n),
  // when given, returns the node shown for a citation marker [n] (or null
  // to leave the text as it is).
  function render(text, opts = {}) {
    const out = document.createDocumentFragment();
    const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    let para = [];
    const flush = () => {
      if (para.length) {
        const p = el("p");
        inline(p, para.join("\n"), opts);
        out.append(p);
        para = [];
      }
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;
      if ((m = FENCE.exec(line))) {
        flush();
        const body = [];
        // An unclosed fence runs to the end: a streamed answer shows its
        // code block while the block is still arriving.
        for (i++; i < lines.length && !lines[i].trimStart().startsWith(m[1]); i++) body.push(lines[i]);
        const pre = el("pre");
        const code = el("code");
        if (m[2]) code.dataset.lang = m[2];
        code.textContent = body.join("\n");
        pre.append(code);
        out.append(pre);
      } else if ((m = HEADING.exec(line))) {
        flush();
        // Answers sit under the page's own headings: # is h3.
        const h = el("h" + Math.min(m[1].length + 2, 6));
        inline(h, m[2], opts);
        out.append(h);
      } else if (RULE.test(line)) {
        flush();
        out.append(el("hr"));
      } else if (BULLET.test(line) || ORDERED.test(line)) {
        flush();
        const ordered = !BULLET.test(line);
        const re = ordered ? ORDERED : BULLET;
        const list = el(ordered ? "ol" : "ul");
        if (ordered) {
          const start = Number(ORDERED.exec(line)[1]);
          if (start !== 1) list.start = start;
        }
        for (; i < lines.length && (m = re.exec(lines[i])); i++) {
          const li = el("li");
          inline(li, ordered ? m[2] : m[1], opts);
          list.append(li);
        }
        i--;
        out.append(list);
      } else if (QUOTE.test(line)) {
        flush();
        const q = el("blockquote");
        const body = [];
        for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) body.push(m[1]);
        i--;
        q.append(render(body.join("\n"), opts));
        out.append(q);
      } else if (line.trim() === "") {
        flush();
      } else {
        para.push(line);
      }
    }
    flush();
    return out;
  }

  window.KeelMarkdown = { render };
})();
