// The demo landing page: fire real postbacks for the click ID this page received (admin fires
// them server side with the demo advertiser's token) and watch what the tracker booked.
const clickId = document.getElementById("click-id").textContent.trim();
const answer = document.getElementById("answer");
const tbody = document.querySelector("#conversions tbody");

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

async function refresh() {
  const res = await fetch(`/demo/status?click_id=${encodeURIComponent(clickId)}`);
  if (!res.ok) return;
  const { conversions, affiliate_postbacks } = await res.json();
  tbody.replaceChildren(
    ...conversions.map((c) => {
      const tr = document.createElement("tr");
      tr.className = "conversion";
      const sent =
        affiliate_postbacks.some((p) => p.query.txid === c.txid || p.query.tx === c.txid) || c.delivered > 0;
      tr.append(
        cell(`#${c.id}`),
        cell(c.event),
        cell(c.status),
        cell(c.amount ? `${c.amount} ${c.currency}` : ""),
        cell(c.payout ?? "—"),
        cell(sent ? "sent" : "…"),
      );
      return tr;
    }),
  );
}

for (const button of document.querySelectorAll("button[data-event]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const res = await fetch("/demo/fire", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          click_id: clickId,
          event: button.dataset.event,
          ...(button.dataset.amount ? { amount: button.dataset.amount } : {}),
        }),
      });
      const body = await res.json();
      answer.textContent = `GET /postback (${button.dataset.event}) → ${JSON.stringify(body.gateway_answer ?? body)}`;
    } finally {
      button.disabled = false;
      refresh();
    }
  });
}

if (clickId && clickId !== "—") {
  refresh();
  setInterval(refresh, 1500);
}
