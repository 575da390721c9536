/* semtrace viewer: the task list (filter by outcome, search by id) and each task's trajectories, side by side
   across runs. No dependencies, no network: data/index.js calls ST.index(...) once; a task's detail scripts
   (data/r<run>/t<key>.js, each calling ST.task(...)) are added as <script> tags when the task is opened, because
   Chromium refuses fetch() of file:// URLs. Every text from a record goes in with textContent, never as HTML. */
"use strict";

var ST = (function () {
  var state = { index: null, rows: [], cache: {}, pending: null, shown: null };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "cls") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ outcomes and the task list

  // an index entry per run: [run, fixed_at (-1: never), regressed, correct, candidates]
  function outcomeText(e) {
    var t = e[1] < 0 ? "never fixed" : "fixed at " + e[1];
    if (e[2]) t += ", regressed";
    return t;
  }

  function matches(entry, outcome) {
    if (outcome === "all") return true;
    if (outcome === "never") return entry[1] < 0;
    if (outcome === "regressed") return entry[2] === 1;
    if (outcome === "fixed") return entry[1] >= 0;
    if (outcome.indexOf("fixed:") === 0) return entry[1] === Number(outcome.slice(6));
    return false;
  }

  function buildControls(index) {
    var outcome = $("st-outcome");
    var opts = [["all", "all"], ["fixed", "fixed (any depth)"]];
    for (var d = 0; d <= index.depth; d++) opts.push(["fixed:" + d, "fixed at depth " + d]);
    opts.push(["never", "never fixed"], ["regressed", "regressed"]);
    if (index.runs.length > 1) opts.push(["differs", "runs differ (fixed at another depth, or not in every run)"]);
    opts.forEach(function (o) { outcome.appendChild(el("option", { value: o[0], text: o[1] })); });
    var run = $("st-run");
    run.appendChild(el("option", { value: "any", text: "any run" }));
    index.runs.forEach(function (r) { run.appendChild(el("option", { value: String(r.index), text: r.label })); });
    if (index.runs.length < 2) $("st-run-filter").hidden = true;
    outcome.addEventListener("change", applyFilter);
    run.addEventListener("change", applyFilter);
    $("st-search").addEventListener("input", applyFilter);
  }

  function buildTable(index) {
    var table = $("st-tasks");
    var head = el("tr", null, [el("th", { text: "task" })]);
    index.runs.forEach(function (r) { head.appendChild(el("th", { text: r.label })); });
    table.tHead.appendChild(head);
    var body = document.createDocumentFragment();
    index.tasks.forEach(function (t) {
      var byRun = {};
      t[2].forEach(function (e) { byRun[e[0]] = e; });
      var link = el("a", { href: "#task=" + encodeURIComponent(t[0]), text: t[0] });
      var tr = el("tr", { "data-task": t[0] }, [el("td", { cls: "st-task-id" }, [link])]);
      index.runs.forEach(function (r) {
        var e = byRun[r.index];
        if (!e) { tr.appendChild(el("td", { cls: "st-absent", text: "not in this run" })); return; }
        var cls = e[1] < 0 ? "st-never" : "st-fixed";
        var cell = el("td", { cls: "st-outcome " + cls }, [
          el("span", { cls: "st-badge " + cls, text: outcomeText(e) }),
          el("span", { cls: e[3] ? "st-ok" : "st-bad", text: e[3] ? " \u2713" : " \u2717",
                       title: e[3] ? "the selector's pick is correct" : "the selector's pick is wrong" }),
          el("span", { cls: "st-n", text: " " + e[4] + " candidates" }),
        ]);
        if (e[2]) cell.classList.add("st-regressed");
        tr.appendChild(cell);
      });
      body.appendChild(tr);
      state.rows.push({ tr: tr, id: t[0].toLowerCase(), entries: t[2] });
    });
    table.tBodies[0].appendChild(body);
  }

  function applyFilter() {
    var outcome = $("st-outcome").value, run = $("st-run").value;
    var q = $("st-search").value.trim().toLowerCase();
    var shown = 0;
    state.rows.forEach(function (row) {
      var ok = !q || row.id.indexOf(q) >= 0;
      if (ok && outcome === "differs") {
        ok = row.entries.length < state.index.runs.length ||
          row.entries.some(function (e) { return e[1] !== row.entries[0][1]; });
      } else if (ok) {
        ok = row.entries.some(function (e) {
          return (run === "any" || String(e[0]) === run) && matches(e, outcome);
        });
      }
      row.tr.hidden = !ok;
      if (ok) shown++;
    });
    $("st-count").textContent = shown + " of " + state.rows.length + " tasks";
  }

  // ------------------------------------------------------------------ task detail

  function route() {
    var m = /^#task=(.*)$/.exec(location.hash);
    if (!m) { showList(); return; }
    var id = decodeURIComponent(m[1]);
    var task = null;
    state.index.tasks.forEach(function (t) { if (t[0] === id) task = t; });
    if (!task) { showError("no task " + JSON.stringify(id) + " in this viewer"); return; }
    openTask(task);
  }

  function showList() {
    $("st-detail").hidden = true;
    $("st-detail").setAttribute("data-state", "idle");
    $("st-list-view").hidden = false;
    state.shown = null;
  }

  function detailShell() {
    var detail = $("st-detail");
    detail.textContent = "";
    detail.hidden = false;
    $("st-list-view").hidden = true;
    detail.appendChild(el("p", null, [el("a", { href: "#", text: "\u2190 all tasks", cls: "st-back" })]));
    return detail;
  }

  function showError(text) {
    var detail = detailShell();
    detail.appendChild(el("p", { cls: "st-error", text: text }));
    detail.setAttribute("data-state", "error");
  }

  function openTask(task) {
    var key = task[1], runs = task[2].map(function (e) { return e[0]; });
    var detail = detailShell();
    detail.setAttribute("data-state", "loading");
    detail.appendChild(el("h2", { text: task[0] }));
    state.shown = key;
    var have = state.cache[key] || (state.cache[key] = {});
    var missing = runs.filter(function (r) { return !(r in have); });
    var failed = [];
    var left = missing.length;
    function done() {
      if (state.shown !== key) return;
      if (failed.length) { showError("could not load " + failed.join(", ") + " (is the viewer folder complete?)"); return; }
      renderTask(detail, task, runs.map(function (r) { return have[r]; }), runs);
    }
    if (!left) { done(); return; }
    missing.forEach(function (r) {
      var src = "data/r" + r + "/t" + key + ".js";
      var s = el("script", { src: src });
      s.onload = function () { if (--left === 0) done(); };
      s.onerror = function () { failed.push(src); if (--left === 0) done(); };
      document.body.appendChild(s);
    });
  }

  function task(run, key, data) {
    (state.cache[key] || (state.cache[key] = {}))[run] = data;
  }

  function usageText(u) {
    if (!u || !u.calls) return "";
    return (u.prompt_tokens || 0) + "+" + (u.completion_tokens || 0) + " tokens" +
      (u.reasoning_tokens ? " (" + u.reasoning_tokens + " reasoning)" : "") + ", " + u.calls + " call" +
      (u.calls === 1 ? "" : "s");
  }

  function block(title, text, opts) {
    opts = opts || {};
    var pre = el("pre", { cls: opts.cls || "st-text", text: text });
    var d = el("details", { cls: "st-block " + (opts.blockCls || "") }, [el("summary", { text: title }), pre]);
    if (opts.open) d.open = true;
    return d;
  }

  function diffBlock(cand) {
    var pre = el("pre", { cls: "st-diff" });
    if (!cand.diff.length) pre.appendChild(el("span", { cls: "st-ctx", text: "(same code as " + cand.parent + ")" }));
    cand.diff.forEach(function (line) {
      var c = line[0] === "+" ? "st-add" : line[0] === "-" ? "st-del" : line[0] === "@" ? "st-hunk" : "st-ctx";
      pre.appendChild(el("span", { cls: c, text: line + "\n" }));
    });
    var d = el("details", { cls: "st-block st-diff-block", open: "" },
      [el("summary", { text: "Diff against " + cand.parent }), pre]);
    return d;
  }

  function promptBlock(cand, messages, what) {
    var body = el("div", { cls: "st-prompt" });
    messages.forEach(function (m) {
      body.appendChild(el("div", { cls: "st-msg st-role-" + m.role }, [
        el("div", { cls: "st-role", text: m.role }),
        el("pre", { cls: "st-text st-msg-content", text: m.content }),
      ]));
    });
    var title = what + " (" + messages.length + " message" + (messages.length === 1 ? "" : "s") +
      (messages === cand.prompt && cand.prompt_digest ? ", digest " + cand.prompt_digest : "") + ")";
    var cls = messages === cand.prompt ? "st-prompt-block" : "st-critique-prompt-block";
    return el("details", { cls: "st-block " + cls }, [el("summary", { text: title }), body]);
  }

  function argsText(a) {
    return typeof a === "string" ? a : JSON.stringify(a);
  }

  // the debug strategy's round as the conversation it was: each reply, each tool call and what it observed
  function transcriptBlock(t) {
    var body = el("div", { cls: "st-prompt st-transcript" });
    t.turns.forEach(function (turn, i) {
      var reply = [el("div", { cls: "st-role", text: "assistant (turn " + (i + 1) + ")" })];
      if (turn.text) reply.push(el("pre", { cls: "st-text st-msg-content", text: turn.text }));
      if (turn.reasoning) reply.push(block("Reasoning (" + turn.reasoning.length + " characters)", turn.reasoning,
        { cls: "st-text st-reasoning-text", blockCls: "st-reasoning" }));
      body.appendChild(el("div", { cls: "st-msg st-role-assistant st-turn" }, reply));
      turn.calls.forEach(function (c) {
        var head = c.name + "(" + (c.name === "submit" ? "code" : argsText(c.arguments)) + ")";
        body.appendChild(el("div", { cls: "st-msg st-role-tool st-call" + (c.error ? " st-call-error" : ""),
                                     "data-tool": c.name }, [
          el("div", { cls: "st-role", text: "tool call " + head + (c.tokens ? " \u00b7 " + c.tokens + " tokens" : "") +
                                                (c.latency ? " \u00b7 " + c.latency.toFixed(3) + " s" : "") }),
          c.name === "submit" && !c.error ? null : el("pre", { cls: "st-text st-observation", text: c.observation }),
        ]));
      });
      if (turn.notice) body.appendChild(el("div", { cls: "st-msg st-role-user" }, [
        el("div", { cls: "st-role", text: "user" }), el("pre", { cls: "st-text st-msg-content", text: turn.notice })]));
    });
    var calls = t.turns.reduce(function (n, turn) { return n + turn.calls.length; }, 0);
    var title = "Tool loop (" + t.protocol + " protocol; " + t.turns.length + " turns, " + calls + " calls of " +
      t.budget + "; ended: " + t.end + (t.reason ? " \u2014 " + t.reason : "") + ")";
    return el("details", { cls: "st-block st-transcript-block", open: "" }, [el("summary", { text: title }), body]);
  }

  function outcomeLine(label, o, detail) {
    var status = o.status || "not run";
    var cls = status === "passed" ? "st-ok" : "st-bad";
    var text = label + ": " + status + (o.total ? " (" + o.passed + "/" + o.total + ")" : "");
    var line = el("div", { cls: "st-outcome-line" }, [el("span", { cls: cls, text: text })]);
    if (detail && o.outcomes) line.appendChild(el("code", { cls: "st-letters", text: " " + o.outcomes }));
    return line;
  }

  function visibleDetail(v) {
    var parts = [];
    (v.tests || []).forEach(function (t) {
      var text = "test " + t.index + ": " + t.status + (t.message ? "\n" + t.message : "") +
        (t.actual != null ? "\nactual: " + t.actual : "");
      parts.push(text);
    });
    if (v.message) parts.push(v.message);
    if (v.stdout) parts.push("stdout:\n" + v.stdout);
    if (v.stderr) parts.push("stderr:\n" + v.stderr);
    if (v.runner_error) parts.push("runner error: " + v.runner_error);
    return parts.join("\n\n");
  }

  function roundCell(run, cand, data) {
    var picked = data.selection && data.selection.id === cand.id;
    var head = el("div", { cls: "st-round-head" }, [
      el("strong", { text: "chain " + cand.chain + " \u00b7 round " + cand.round }),
      el("span", { cls: "st-id", text: " " + cand.id + (cand.parent ? " \u2190 " + cand.parent : "") }),
      el("span", { cls: cand.correct ? "st-ok" : "st-bad", text: cand.correct ? " correct" : " incorrect" }),
      picked ? el("span", { cls: "st-picked", text: " \u2605 picked by " + data.selection.selector }) : null,
    ]);
    var cost = [usageText(cand.usage), cand.latency ? cand.latency.toFixed(2) + " s LLM" : "",
      cand.visible.duration ? cand.visible.duration.toFixed(3) + " s tests" : "",
      usageText(cand.render_usage) ? "render " + usageText(cand.render_usage) : "",
      usageText(cand.critique_usage) ? "critique " + usageText(cand.critique_usage) : ""]
      .filter(Boolean).join(" \u00b7 ");
    var cell = el("div", { cls: "st-round", "data-run": String(run), "data-chain": String(cand.chain),
                           "data-round": String(cand.round), "data-id": cand.id }, [
      head,
      outcomeLine("visible", cand.visible, true),
      outcomeLine("hidden", cand.hidden, false),
      cost ? el("div", { cls: "st-cost", text: cost }) : null,
      cand.note ? el("div", { cls: "st-note", text: cand.note }) : null,
    ]);
    if (cand.prompt.length) cell.appendChild(promptBlock(cand, cand.prompt, "Prompt the model received"));
    else if (cand.round === 0) cell.appendChild(el("div", { cls: "st-note", text: "the starting program (no prompt)" }));
    if (cand.transcript) cell.appendChild(transcriptBlock(cand.transcript));
    else if (cand.raw && cand.raw !== cand.code) cell.appendChild(block("Model reply", cand.raw));
    if (cand.reasoning) {  // folded under the reply: recorded, never sent to the model again
      cell.appendChild(block("Reasoning (" + cand.reasoning.length + " characters; never sent again)", cand.reasoning,
        { cls: "st-text st-reasoning-text", blockCls: "st-reasoning" }));
    }
    if (cand.diff) cell.appendChild(diffBlock(cand));
    if (cand.no_program) cell.appendChild(el("div", { cls: "st-note st-no-program", text: "no program: " + cand.note }));
    else cell.appendChild(block("Code", cand.code, { open: !cand.diff, cls: "st-text st-code" }));
    var vis = visibleDetail(cand.visible);
    if (vis) cell.appendChild(block("Visible-test outcome", vis, { open: true, cls: "st-text st-visible" }));
    if (cand.feedback) cell.appendChild(block("Feedback sent to the model", cand.feedback, { cls: "st-text st-feedback" }));
    if (cand.rendering) {
      var title = "Rendered trace (in the next round's prompt" +
        (cand.trace_events ? "; " + cand.trace_events + " trace events" + (cand.trace_truncated ? ", truncated" : "") : "") + ")";
      cell.appendChild(block(title, cand.rendering, { open: true, cls: "st-text st-rendering" }));
    }
    if (cand.critique_prompt.length) {
      cell.appendChild(promptBlock(cand, cand.critique_prompt, "Critique prompt the model received"));
    }
    if (cand.critique) cell.appendChild(block("Critique", cand.critique, { open: true, cls: "st-text st-critique" }));
    if (cand.critique_reasoning) {
      cell.appendChild(block("Critique reasoning (" + cand.critique_reasoning.length + " characters)",
        cand.critique_reasoning, { cls: "st-text st-reasoning-text", blockCls: "st-reasoning st-critique-reasoning" }));
    }
    return cell;
  }

  function renderTask(detail, task, datas, runs) {
    var labels = {};
    state.index.runs.forEach(function (r) { labels[r.index] = r.label; });
    var grid = el("div", { cls: "st-grid" });
    grid.style.gridTemplateColumns = "repeat(" + runs.length + ", minmax(22em, 1fr))";
    runs.forEach(function (r, i) {
      var d = datas[i], o = d.outcome;
      var bits = [d.kind, "depth " + d.depth, "width " + d.width,
        (o[0] < 0 ? "never fixed" : "fixed at depth " + o[0]) + (o[1] ? ", regressed" : ""),
        (d.correct ? "selected answer correct" : "selected answer wrong") +
          (d.selection.selector ? " (" + d.selection.selector + ")" : ""),
        usageText(d.usage), d.wall_time != null ? d.wall_time.toFixed(2) + " s" : ""].filter(Boolean);
      grid.appendChild(el("div", { cls: "st-run-head", "data-run": String(r) }, [
        el("h3", { text: labels[r] }), el("div", { cls: "st-run-summary", text: bits.join(" \u00b7 ") })]));
    });
    var slots = {}, order = [];
    datas.forEach(function (d) {
      d.chains.forEach(function (chain) {
        chain.forEach(function (c) {
          var k = c.chain + ":" + c.round;
          if (!(k in slots)) { slots[k] = [c.chain, c.round]; order.push(k); }
        });
      });
    });
    order.sort(function (a, b) { return slots[a][0] - slots[b][0] || slots[a][1] - slots[b][1]; });
    order.forEach(function (k) {
      runs.forEach(function (r, i) {
        var found = null;
        datas[i].chains.forEach(function (chain) {
          chain.forEach(function (c) { if (c.chain === slots[k][0] && c.round === slots[k][1]) found = c; });
        });
        grid.appendChild(found ? roundCell(r, found, datas[i]) :
          el("div", { cls: "st-round st-empty", text: "chain " + slots[k][0] + ": no round " + slots[k][1] +
            " (the chain had stopped)" }));
      });
    });
    detail.appendChild(grid);
    detail.setAttribute("data-state", "ready");
    window.scrollTo(0, 0);
  }

  // ------------------------------------------------------------------ boot

  function index(data) {
    state.index = data;
    buildControls(data);
    buildTable(data);
    applyFilter();
    window.addEventListener("hashchange", route);
    route();
    api.readyAt = performance.now();  // ms since navigation start: the time to interactive
    api.ready = true;
  }

  var api = { index: index, task: task, ready: false, readyAt: null, state: state };
  return api;
})();
