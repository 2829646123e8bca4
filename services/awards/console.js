"use strict";
const KIND = { award: "Verleihung", revocation: "Widerruf" };
const STATUS = { open: "offen", claimed: "in Bearbeitung", decided: "entschieden" };
const DECISION = { approve: "genehmigt", reject: "abgelehnt", revoke: "widerrufen", keep: "beibehalten" };
const ACTION = { opened: "eröffnet", claimed: "übernommen", approve: "genehmigt", reject: "abgelehnt",
  revoke: "widerrufen", keep: "beibehalten", count_below_threshold: "Anzahl unter Schwelle",
  count_back_at_threshold: "Anzahl wieder an der Schwelle" };
const AUTHORITY_KIND = { gemeinde: "Gemeinde", markt: "Markt", stadt: "Stadt", kreisfreie_stadt: "Kreisfreie Stadt",
  landkreis: "Landkreis", verwaltungsgemeinschaft: "Verwaltungsgemeinschaft", bezirk: "Bezirk" };
const $ = (id) => document.getElementById(id);
const when = (iso) => iso ? new Date(iso).toLocaleString("de-DE") : "–";

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

async function api(path, options) {
  const response = await fetch(path, { ...options, headers: { "Authorization": "Bearer " + token(),
    "Content-Type": "application/json" } });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) { logout("Token ungültig oder widerrufen. Bitte erneut anmelden."); throw new Error("401"); }
  if (!response.ok) {
    const detail = body && (body.detail || (body.errors && body.errors.map((e) => e.message).join("; ")));
    throw new Error(typeof detail === "string" ? detail : "Fehler " + response.status);
  }
  return body;
}

function logout(message) {
  sessionStorage.removeItem("reviewer-token");
  $("queue").classList.add("hidden"); $("case").classList.add("hidden"); $("login").classList.remove("hidden");
  $("who").textContent = "";
  say(message || "", message ? "error" : "info");
  $("token").focus();
}

async function loadQueue() {
  const params = new URLSearchParams();
  if ($("status").value) params.set("status", $("status").value);
  if ($("kind").value) params.set("kind", $("kind").value);
  const page = await api("/v1/cases?" + params.toString());
  const rows = page.items.map((c) => {
    const tr = el("tr");
    tr.appendChild(el("td", when(c.opened_at)));
    const name = el("td");
    name.appendChild(el("strong", c.authority_name));
    name.appendChild(el("div", (AUTHORITY_KIND[c.authority_kind] || c.authority_kind) + " · " + c.authority_id));
    tr.appendChild(name);
    tr.appendChild(el("td", KIND[c.kind]));
    tr.appendChild(el("td", c.district || "–"));
    const count = el("td", (c.current_count ?? c.count) + (c.threshold ? " / " + c.threshold : ""));
    if (c.eligible === false) count.appendChild(el("div", "unter Schwelle", { class: "warn" }));
    tr.appendChild(count);
    const status = el("td"); status.appendChild(el("span", STATUS[c.status], { class: "badge " + c.status }));
    if (c.claimed_by) status.appendChild(el("div", c.claimed_by));
    tr.appendChild(status);
    const open = el("button", "Öffnen", { type: "button", "aria-label": "Fall " + c.authority_name + " öffnen" });
    open.addEventListener("click", () => showCase(c.case_id));
    const cell = el("td"); cell.appendChild(open); tr.appendChild(cell);
    return tr;
  });
  $("cases").replaceChildren(...rows);
  $("total").textContent = page.total + (page.total === 1 ? " Fall" : " Fälle");
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
  const submit = el("button", "Entscheidung speichern", { type: "submit", style: "margin-top:.75rem" });
  form.appendChild(submit);
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

async function showCase(caseId) {
  const c = await api("/v1/cases/" + caseId);
  $("case-title").textContent = KIND[c.kind] + ": " + c.authority_name;
  const facts = [["Behörde", c.authority_name + " (" + (AUTHORITY_KIND[c.authority_kind] || c.authority_kind) + ", " + c.authority_id + ")"],
    ["Landkreis", c.district || "–"], ["Regierungsbezirk", c.region || "–"],
    ["Anzahl bei Eröffnung", c.count], ["Aktuelle Anzahl", (c.current_count ?? "–") + (c.threshold ? " (Schwelle " + c.threshold + ")" : "")],
    ["Status", STATUS[c.status] + (c.claimed_by ? " – " + c.claimed_by : "")], ["Eröffnet", when(c.opened_at)]];
  if (c.award_number) facts.push(["Auszeichnung", c.award_number]);
  if (c.decision) facts.push(["Entscheidung", DECISION[c.decision] + (c.reason ? ": " + c.reason : "")]);
  $("case-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  const actions = $("case-actions");
  actions.replaceChildren();
  if (c.eligible === false && c.kind === "award" && c.status !== "decided") {
    actions.appendChild(el("p", "Die Anzahl liegt unter der Schwelle: eine Genehmigung ist derzeit nicht möglich.", { class: "warn" }));
  }
  const me = sessionStorage.getItem("reviewer-name");
  if (c.status === "open") {
    const claim = el("button", "Fall übernehmen", { type: "button", id: "claim" });
    claim.addEventListener("click", async () => {
      try { await api("/v1/cases/" + c.case_id + "/claim", { method: "POST" }); await showCase(c.case_id); say("Fall übernommen.", "info"); }
      catch (e) { say(e.message, "error"); }
    });
    actions.appendChild(claim);
  } else if (c.status === "claimed" && c.claimed_by === me) {
    actions.appendChild(decisionForm(c));
  } else if (c.status === "claimed") {
    actions.appendChild(el("p", "Dieser Fall wird von " + c.claimed_by + " bearbeitet."));
  }
  $("history").replaceChildren(...c.history.map((a) => {
    const tr = el("tr");
    [when(a.at), ACTION[a.action] || a.action, a.actor, a.reason || ""].forEach((v) => tr.appendChild(el("td", v)));
    return tr;
  }));
  $("queue").classList.add("hidden");
  $("case").classList.remove("hidden");
  $("case").focus();
}

async function enter() {
  const page = await api("/v1/cases?limit=1");
  const me = await api("/v1/me");
  sessionStorage.setItem("reviewer-name", me.name);
  $("who").textContent = "Angemeldet: " + me.name;
  $("login").classList.add("hidden");
  $("queue").classList.remove("hidden");
  await loadQueue();
  return page;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem("reviewer-token", $("token").value.trim());
  $("token").value = "";
  try { await enter(); say(""); } catch (e) { if (e.message !== "401") say(e.message, "error"); }
});
$("filter").addEventListener("submit", (event) => { event.preventDefault(); loadQueue().catch((e) => say(e.message, "error")); });
$("logout").addEventListener("click", () => logout());
$("back").addEventListener("click", () => { $("case").classList.add("hidden"); $("queue").classList.remove("hidden"); loadQueue(); });
if (token()) enter().catch(() => {});
