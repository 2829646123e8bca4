"use strict";
const KIND = { award: "Verleihung", revocation: "Widerruf" };
const STATUS = { open: "offen", claimed: "in Bearbeitung", decided: "entschieden", closed: "eingestellt" };
const DECISION = { approve: "genehmigt", reject: "abgelehnt", revoke: "widerrufen", keep: "beibehalten" };
const ACTION = { opened: "eröffnet", claimed: "übernommen", released: "zurückgegeben", assigned: "zugewiesen",
  closed: "eingestellt", approve: "genehmigt", reject: "abgelehnt", revoke: "widerrufen", keep: "beibehalten",
  count_below_threshold: "Anzahl unter Schwelle", count_back_at_threshold: "Anzahl wieder an der Schwelle",
  mail_undeliverable: "E-Mail nicht zugestellt" };
const PAGE = 25;
const $ = (id) => document.getElementById(id);
const when = (iso) => iso ? new Date(iso).toLocaleString("de-DE", { timeZone: "Europe/Berlin" }) : "–";
const day = (iso) => iso ? new Date(iso).toLocaleDateString("de-DE", { timeZone: "Europe/Berlin" }) : "–";
let offset = 0;
let claimedBy = "";

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
function say(text, kind) {
  const box = $("message");
  box.replaceChildren();
  if (text) box.appendChild(el("div", text, { class: "msg " + (kind || "info") }));
}
function token() { return sessionStorage.getItem("reviewer-token"); }
function me() { return { name: sessionStorage.getItem("reviewer-name"), lead: sessionStorage.getItem("reviewer-lead") === "1" }; }
function show(...ids) {
  for (const id of ["login", "queue", "new-review", "plaques", "team", "case"]) $(id).classList.toggle("hidden", !ids.includes(id));
}

async function api(path, options) {
  const response = await fetch(path, { ...options, headers: { "Authorization": "Bearer " + token(),
    "Content-Type": "application/json" } });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) { logout("Token ungültig oder widerrufen. Bitte erneut anmelden."); throw new Error("401"); }
  if (!response.ok) {
    const detail = body && (body.detail || (body.errors && body.errors.map((e) => e.message).join("; ")));
    throw new Error(typeof detail === "string" ? detail : "Die Anfrage ist fehlgeschlagen (" + response.status + ").");
  }
  return body;
}

function logout(message) {
  for (const key of ["reviewer-token", "reviewer-name", "reviewer-lead"]) sessionStorage.removeItem(key);
  show("login");
  $("who").textContent = "";
  say(message || "", message ? "error" : "info");
  $("token").focus();
}

function authorityCell(c) {
  const cell = el("td");
  cell.appendChild(el("strong", c.authority_display_name));
  cell.appendChild(el("div", c.authority_id));
  return cell;
}

async function loadQueue() {
  const params = new URLSearchParams({ limit: PAGE, offset });
  for (const [key, id] of [["status", "status"], ["kind", "kind"], ["q", "q"]]) if ($(id).value.trim()) params.set(key, $(id).value.trim());
  if (claimedBy) params.set("claimed_by", claimedBy);
  const page = await api("/v1/cases?" + params.toString());
  $("cases").replaceChildren(...page.items.map((c) => {
    const tr = el("tr");
    tr.appendChild(el("td", when(c.opened_at)));
    tr.appendChild(authorityCell(c));
    tr.appendChild(el("td", KIND[c.kind]));
    tr.appendChild(el("td", c.district || "–"));
    const count = el("td", (c.current_count ?? c.count) + (c.threshold ? " / " + c.threshold : ""));
    if (c.eligible === false) count.appendChild(el("div", "unter Schwelle", { class: "warn" }));
    tr.appendChild(count);
    const status = el("td"); status.appendChild(el("span", STATUS[c.status], { class: "badge " + c.status }));
    if (c.claimed_by) status.appendChild(el("div", c.claimed_by));
    tr.appendChild(status);
    const open = el("button", "Öffnen", { type: "button", "aria-label": "Fall " + c.authority_display_name + " öffnen" });
    open.addEventListener("click", () => showCase(c.case_id).catch((e) => say(e.message, "error")));
    const cell = el("td"); cell.appendChild(open); tr.appendChild(cell);
    return tr;
  }));
  const first = page.total ? offset + 1 : 0;
  const last = Math.min(offset + PAGE, page.total);
  $("total").textContent = (claimedBy ? "Von " + claimedBy + " übernommen: " : "") +
    (page.total === 1 ? "1 Fall" : page.total + " Fälle") + (page.total > PAGE ? ", angezeigt " + first + "–" + last : "");
  $("page").textContent = page.total > PAGE ? "Seite " + (offset / PAGE + 1) + " von " + Math.ceil(page.total / PAGE) : "";
  $("prev").disabled = offset === 0;
  $("next").disabled = offset + PAGE >= page.total;
}

async function loadPlaques() {
  let open;
  try { open = await api("/v1/plaques"); }
  catch (e) { $("plaques-total").textContent = e.message; $("plaque-rows").replaceChildren(); return; }
  $("plaques-total").textContent = open.length === 1 ? "1 Plakette wartet auf den Versand" : open.length + " Plaketten warten auf den Versand";
  $("plaque-rows").replaceChildren(...open.map((p) => {
    const tr = el("tr");
    const name = el("td"); name.appendChild(el("strong", p.authority_name)); name.appendChild(el("div", p.award_number)); tr.appendChild(name);
    const address = el("td"); p.address_lines.forEach((line) => address.appendChild(el("div", line))); tr.appendChild(address);
    const contact = el("td"); [p.contact_name, p.contact_email, p.contact_phone].filter(Boolean).forEach((v) => contact.appendChild(el("div", v))); tr.appendChild(contact);
    tr.appendChild(el("td", day(p.requested_at)));
    const cell = el("td");
    const form = el("form", null, { class: "row" });
    const id = "shipped-" + p.award_number;
    const wrap = el("div");
    wrap.appendChild(el("label", "Versandt am", { for: id }));
    const input = el("input", null, { id, type: "date", required: "", value: new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Berlin" }) });
    wrap.appendChild(input); form.appendChild(wrap);
    form.appendChild(el("button", "Als versandt markieren", { type: "submit", "aria-label": "Plakette " + p.authority_name + " als versandt markieren" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("/v1/plaques/" + encodeURIComponent(p.award_number) + "/shipped", { method: "POST", body: JSON.stringify({ shipped_on: input.value }) });
        say("Plakette für " + p.authority_name + " als versandt vermerkt; die Behörde erhält eine E-Mail.", "info");
        await loadPlaques();
      } catch (e) { say(e.message, "error"); }
    });
    cell.appendChild(form); tr.appendChild(cell);
    return tr;
  }));
}

async function loadTeam() {
  if (!me().lead) return;
  const reviewers = await api("/v1/reviewers");
  $("reviewers").replaceChildren(...reviewers.filter((r) => r.active).map((r) => {
    const tr = el("tr");
    tr.appendChild(el("td", r.name));
    tr.appendChild(el("td", r.lead ? "Leitung" : "Prüfung"));
    tr.appendChild(el("td", r.claimed));
    const cell = el("td");
    if (r.claimed) {
      const list = el("button", "Fälle anzeigen", { type: "button", class: "secondary", "aria-label": "Fälle von " + r.name + " anzeigen" });
      list.addEventListener("click", () => { claimedBy = r.name; offset = 0; $("status").value = "claimed"; loadQueue().catch((e) => say(e.message, "error")); });
      cell.appendChild(list);
    }
    tr.appendChild(cell);
    return tr;
  }));
}

function button(text, id, onClick, cls) {
  const b = el("button", text, { type: "button", id, class: cls || "" });
  b.addEventListener("click", async () => {
    try { await onClick(); } catch (e) { say(e.message, "error"); }
  });
  return b;
}

function decisionForm(c) {
  const form = el("form", null, { id: "decision-form" });
  const set = el("fieldset");
  set.appendChild(el("legend", "Entscheidung"));
  const choices = c.kind === "award" ? [["approve", "Genehmigen"], ["reject", "Ablehnen"]] : [["revoke", "Widerrufen"], ["keep", "Beibehalten"]];
  choices.forEach(([value, label], i) => {
    const id = "decision-" + value;
    const input = el("input", null, { type: "radio", name: "decision", value, id });
    if (i === 0) input.required = true;
    const wrap = el("div"); wrap.appendChild(input); wrap.appendChild(el("label", label, { for: id, style: "display:inline;margin-left:.4rem" }));
    set.appendChild(wrap);
  });
  form.appendChild(set);
  form.appendChild(el("label", "Begründung (bei Ablehnung und Widerruf erforderlich)", { for: "reason" }));
  form.appendChild(el("textarea", null, { id: "reason", name: "reason", maxlength: "2000" }));
  form.appendChild(el("button", "Entscheidung speichern", { type: "submit", style: "margin-top:.75rem" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const decision = form.querySelector("input[name=decision]:checked");
    try {
      await api("/v1/cases/" + c.case_id + "/decision", { method: "POST",
        body: JSON.stringify({ decision: decision.value, reason: $("reason").value || null }) });
      await showCase(c.case_id);
      say("Entscheidung gespeichert: " + DECISION[decision.value] + ".", "info");
    } catch (e) { say(e.message, "error"); }
  });
  return form;
}

async function assignForm(c) {
  const form = el("form", null, { id: "assign-form", class: "row" });
  const wrap = el("div");
  wrap.appendChild(el("label", "Zuweisen an", { for: "assignee" }));
  const select = el("select", null, { id: "assignee", name: "reviewer", required: "" });
  for (const r of (await api("/v1/reviewers")).filter((r) => r.active)) select.appendChild(el("option", r.name + " (" + r.claimed + " Fälle)", { value: r.name }));
  wrap.appendChild(select);
  form.appendChild(wrap);
  const go = el("div", null, { style: "flex:0 0 auto" }); go.appendChild(el("button", "Zuweisen", { type: "submit" }));
  form.appendChild(go);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/v1/cases/" + c.case_id + "/assign", { method: "POST", body: JSON.stringify({ reviewer: select.value }) });
      await showCase(c.case_id);
      say("Fall an " + select.value + " zugewiesen.", "info");
    } catch (e) { say(e.message, "error"); }
  });
  return form;
}

async function caseActions(c) {
  const box = $("case-actions");
  box.replaceChildren();
  const who = me();
  const live = c.status === "open" || c.status === "claimed";
  if (c.eligible === false && c.kind === "award" && live) {
    box.appendChild(el("p", "Die Anzahl liegt unter der Schwelle: eine Genehmigung ist derzeit nicht möglich.", { class: "warn" }));
  }
  if (c.eligible === true && c.kind === "revocation" && live) {
    box.appendChild(el("p", "Die Anzahl erreicht die Schwelle wieder: ein Widerruf ist nicht möglich.", { class: "warn" }));
  }
  const row = el("p", null, { class: "row" });
  if (c.status === "open") {
    row.appendChild(button("Fall übernehmen", "claim", async () => {
      await api("/v1/cases/" + c.case_id + "/claim", { method: "POST" }); await showCase(c.case_id); say("Fall übernommen.", "info");
    }));
  }
  if (c.status === "claimed" && (c.claimed_by === who.name || who.lead)) {
    row.appendChild(button("Fall zurückgeben", "release", async () => {
      await api("/v1/cases/" + c.case_id + "/release", { method: "POST" }); await showCase(c.case_id); say("Fall zurück in der Warteschlange.", "info");
    }, "secondary"));
  }
  box.appendChild(row);
  if (c.status === "claimed" && c.claimed_by === who.name) box.appendChild(decisionForm(c));
  else if (c.status === "claimed") box.appendChild(el("p", "Dieser Fall wird von " + c.claimed_by + " bearbeitet."));
  if (live && who.lead) box.appendChild(await assignForm(c));
}

function procedureItem(p, mark) {
  const li = el("li", (p.name || p.id) + " (" + p.id + (p.scope ? ", " + p.scope : "") + ", seit " + day(p.linked_at) + ")");
  if (mark) { li.classList.add(mark); li.prepend(el("strong", mark === "added" ? "neu: " : "entfernt: ")); }
  return li;
}

function showEvidence(c) {
  const added = new Set(c.added.map((p) => p.id));
  const removed = new Set(c.removed.map((p) => p.id));
  if (c.procedures_at_opening === null) {
    $("evidence-opening").replaceChildren(el("li", "noch nicht erfasst"));
  } else {
    $("evidence-opening").replaceChildren(...c.procedures_at_opening.map((p) => procedureItem(p, removed.has(p.id) ? "removed" : null)));
  }
  if (c.procedures_now === null) {
    $("evidence-now").replaceChildren(el("li", "derzeit nicht abrufbar"));
  } else {
    $("evidence-now").replaceChildren(...c.procedures_now.map((p) => procedureItem(p, added.has(p.id) ? "added" : null)));
  }
  const parts = [];
  if (c.procedures_at_opening !== null) parts.push(c.procedures_at_opening.length + " bei Eröffnung (erfasst " + when(c.evidence_at) + ")");
  if (c.procedures_now !== null) parts.push(c.procedures_now.length + " jetzt");
  if (c.added.length || c.removed.length) parts.push(c.added.length + " hinzugekommen, " + c.removed.length + " entfallen");
  $("evidence-summary").textContent = parts.join("; ");
}

async function showCase(caseId) {
  const c = await api("/v1/cases/" + caseId);
  $("case-title").textContent = KIND[c.kind] + ": " + c.authority_display_name;
  const facts = [["Behörde", c.authority_display_name + " (Schlüssel " + c.authority_id + ")"],
    ["Landkreis", c.district || "–"], ["Regierungsbezirk", c.region || "–"],
    ["Anzahl bei Eröffnung", c.count], ["Aktuelle Anzahl", (c.current_count ?? "–") + (c.threshold ? " (Schwelle " + c.threshold + ")" : "")],
    ["Status", STATUS[c.status] + (c.claimed_by ? " – " + c.claimed_by : "")], ["Eröffnet", when(c.opened_at)]];
  if (c.award_number) facts.push(["Auszeichnung", c.award_number]);
  if (c.decision) facts.push(["Entscheidung", DECISION[c.decision] + (c.reason ? ": " + c.reason : "")]);
  if (c.status === "closed") facts.push(["Eingestellt", when(c.decided_at) + (c.reason ? ": " + c.reason : "")]);
  $("case-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  await caseActions(c);
  showEvidence(c);
  $("history").replaceChildren(...c.history.map((a) => {
    const tr = el("tr");
    [when(a.at), ACTION[a.action] || a.action, a.actor, a.reason || ""].forEach((v) => tr.appendChild(el("td", v)));
    return tr;
  }));
  show("case");
  $("case").focus();
}

async function enter() {
  const who = await api("/v1/me");
  sessionStorage.setItem("reviewer-name", who.name);
  sessionStorage.setItem("reviewer-lead", who.lead ? "1" : "0");
  $("who").textContent = "Angemeldet: " + who.name + (who.lead ? " (Leitung)" : "");
  await backToQueue();
}

async function backToQueue() {
  show("queue", "new-review", "plaques", ...(me().lead ? ["team"] : []));
  await loadQueue();
  await loadTeam();
  await loadPlaques();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem("reviewer-token", $("token").value.trim());
  $("token").value = "";
  try { await enter(); say(""); } catch (e) { if (e.message !== "401") say(e.message, "error"); }
});
$("filter").addEventListener("submit", (event) => {
  event.preventDefault(); offset = 0; claimedBy = ""; loadQueue().catch((e) => say(e.message, "error"));
});
$("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadQueue().catch((e) => say(e.message, "error")); });
$("next").addEventListener("click", () => { offset += PAGE; loadQueue().catch((e) => say(e.message, "error")); });
$("new-review-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const c = await api("/v1/authorities/" + encodeURIComponent($("new-authority").value.trim()) + "/cases", { method: "POST" });
    $("new-authority").value = "";
    await showCase(c.case_id);
    say("Neue Prüfung eröffnet.", "info");
  } catch (e) { say(e.message, "error"); }
});
$("logout").addEventListener("click", () => logout());
$("back").addEventListener("click", () => { backToQueue().catch((e) => say(e.message, "error")); });
if (token()) enter().catch(() => {});
