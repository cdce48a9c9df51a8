/// The dashboard's one page: it renders the state the server put in it, then follows `/events`
/// (server-sent events), and draws accuracy, loss, epsilon and (asynchronous jobs) staleness
/// per round, the agents and the rejections. No external scripts or fonts: it works on a
/// network without internet.
enum DashboardPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>FedMQ dashboard</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 24px; color: #1d2330; }
          h1 { font-size: 20px; margin: 0 0 4px; }
          #progress { color: #4a5568; margin-bottom: 16px; }
          .charts { display: flex; flex-wrap: wrap; gap: 16px; }
          figure { margin: 0; border: 1px solid #d5dae3; border-radius: 6px; padding: 8px; }
          figcaption { font-weight: 600; margin-bottom: 4px; }
          svg { display: block; }
          table { border-collapse: collapse; margin-top: 16px; }
          th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #e6e9ef; }
          .state-training { color: #2b6cb0; } .state-offline { color: #a0aec0; } .state-budget_exhausted { color: #c05621; }
          .error { color: #c53030; }
        </style>
        </head>
        <body>
        <h1 id="title">FedMQ</h1>
        <div id="progress" data-round="0">waiting for the job</div>
        <div class="charts">
          <figure><figcaption>accuracy</figcaption><svg id="chart-accuracy" width="320" height="160"></svg></figure>
          <figure><figcaption>loss</figcaption><svg id="chart-loss" width="320" height="160"></svg></figure>
          <figure><figcaption>epsilon</figcaption><svg id="chart-epsilon" width="320" height="160"></svg></figure>
          <figure><figcaption>staleness (asynchronous jobs: mean versions per update)</figcaption><svg id="chart-staleness" width="320" height="160"></svg></figure>
        </div>
        <table id="agents"><thead><tr><th>agent</th><th>state</th><th>last round</th><th>epsilon spent</th><th>last error</th></tr></thead><tbody></tbody></table>
        <table id="rejections"><thead><tr><th>rejected</th><th>count</th></tr></thead><tbody></tbody></table>
        <script>
        "use strict";
        function text(value) { return value === null || value === undefined ? "" : String(value); }
        function chart(id, points) {
          const svg = document.getElementById(id);
          const width = 320, height = 160, pad = 28;
          const shown = points.filter(p => p.y !== null);
          svg.replaceChildren();
          svg.setAttribute("data-points", shown.length);
          if (shown.length === 0) return;
          const xs = shown.map(p => p.x), ys = shown.map(p => p.y);
          const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
          const sx = x => pad + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - 2 * pad);
          const sy = y => height - pad - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (height - 2 * pad);
          const ns = "http://www.w3.org/2000/svg";
          const line = document.createElementNS(ns, "polyline");
          line.setAttribute("points", shown.map(p => sx(p.x) + "," + sy(p.y)).join(" "));
          line.setAttribute("fill", "none"); line.setAttribute("stroke", "#2b6cb0"); line.setAttribute("stroke-width", "2");
          svg.appendChild(line);
          for (const [label, x, y] of [[y1.toPrecision(3), 2, pad - 4], [y0.toPrecision(3), 2, height - pad + 12], ["round " + x1, width - 70, height - 6]]) {
            const t = document.createElementNS(ns, "text");
            t.textContent = label; t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("font-size", "11"); t.setAttribute("fill", "#4a5568");
            svg.appendChild(t);
          }
        }
        function rows(id, items, cells, attribute) {
          const body = document.querySelector("#" + id + " tbody");
          body.replaceChildren(...items.map(item => {
            const row = document.createElement("tr");
            if (attribute) row.setAttribute(attribute[0], attribute[1](item));
            for (const [value, className] of cells(item)) {
              const cell = document.createElement("td");
              cell.textContent = text(value);
              if (className) cell.className = className;
              row.appendChild(cell);
            }
            return row;
          }));
        }
        function render(state) {
          document.getElementById("title").textContent = "FedMQ job " + state.job;
          const progress = document.getElementById("progress");
          progress.dataset.round = state.round;
          progress.textContent = "round " + state.round + (state.rounds ? "/" + state.rounds : "") + (state.mode === "asynchronous" ? " (asynchronous)" : "")
            + ", aggregator " + state.aggregator;
          for (const metric of ["accuracy", "loss", "epsilon", "staleness"]) {
            chart("chart-" + metric, state.history.map(h => ({ x: h.round, y: h[metric] })));
          }
          rows("agents", state.agents, a => [[a.agent], [a.state, "state-" + a.state], [a.last_round],
            [a.epsilon_spent === null ? "" : a.epsilon_spent.toFixed(3)], [a.last_error, "error"]], ["data-agent", a => a.agent]);
          rows("rejections", Object.keys(state.rejected).sort().map(r => [r, state.rejected[r]]), r => [[r[0]], [r[1]]]);
        }
        render(/*FEDMQ_STATE*/null);
        new EventSource("events").onmessage = event => render(JSON.parse(event.data));
        </script>
        </body>
        </html>

        """#
}
