package main

// pageHTML is the HTML report's template. The page is self-contained (its
// CSS inline, its charts inline SVG, no script, nothing fetched) and also
// well-formed XML, so that the tests can check it with encoding/xml.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 2px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin-top: 0; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 6px 10px; margin: 6px 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #eee; padding: 3px 9px; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; }
td:first-child, th:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
pre.json { background: #f7f7f7; padding: 10px; font-size: 12px; overflow-x: auto; max-height: 420px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{range .Warnings}}<p class="warn">warning: {{.}}</p>
{{end}}
<h2>Summary</h2>
<table id="summary">
<tr>{{range .SummaryHead}}<th>{{.}}</th>{{end}}</tr>
{{range .Summary}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p class="sub">Throughput counts ok calls per second; latencies are those of ok calls (HDR histogram, 3 significant figures).
Open loop: each latency counts from the call's scheduled send time; late: calls sent over 1ms behind schedule, or never.</p>
{{with .Compare}}
<h2>Comparison (B/A)</h2>
{{range .Differs}}<p class="sub">differs: {{.}}</p>
{{end}}<table id="compare">
<tr><th></th><th>A: {{.NameA}}</th><th>B: {{.NameB}}</th><th>B/A</th></tr>
{{range .Sections}}<tr><th colspan="4">{{.Title}}</th></tr>
{{range .Rows}}<tr><td>{{.Label}}</td><td>{{.A}}</td><td>{{.B}}</td><td>{{.Ratio}}</td></tr>
{{end}}{{end}}</table>
{{end}}
<h2>Latency distribution</h2>
<div class="charts">{{template "chart" .Percentile}}</div>
<p class="sub">The x axis is the percentile on a log scale of 1/(1-p): 90%, 99%, 99.9%, ... are equally spaced, so the tail shows. Raw echo lines are dashed.</p>
<h2>Over time</h2>
<div class="charts">{{template "chart" .Throughput}}{{template "chart" .P99}}</div>
<h2>Settings and machine</h2>
<table id="settings">
<tr><th>setting</th>{{range .Names}}<th>{{.}}</th>{{end}}</tr>
{{range .Settings}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<h2>JSON</h2>
<p class="sub">The same numbers as -json{{if .Compare}}, for A then B{{end}}.</p>
{{range .JSON}}{{if .Name}}<h3>{{.Name}}</h3>{{end}}<pre class="json">{{.Text}}</pre>
{{end}}</body>
</html>
{{define "chart"}}<figure><svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}">
<text x="{{.Left}}" y="16" font-weight="bold">{{.Title}}</text>
{{range .YTicks}}<line stroke="#e4e4e4" x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text x="{{$.Left}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<line stroke="#e4e4e4" x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$.Top}}" y2="{{$.Bot}}"/><text x="{{.Pos}}" y="{{$.Bot}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}<line stroke="#888" x1="{{.Left}}" x2="{{.Right}}" y1="{{.Bot}}" y2="{{.Bot}}"/><line stroke="#888" x1="{{.Left}}" x2="{{.Left}}" y1="{{.Top}}" y2="{{.Bot}}"/>
<text x="{{.XMid}}" y="{{.Bot}}" dy="34" text-anchor="middle">{{.XLabel}}</text>
<text transform="rotate(-90)" x="-{{.YMid}}" y="14" text-anchor="middle">{{.YLabel}}</text>
{{if .Empty}}<text x="{{.XMid}}" y="{{.YMid}}" text-anchor="middle">no data</text>{{end}}
{{range .Lines}}<polyline fill="none" stroke="{{.Color}}" stroke-width="1.7"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}} points="{{.Points}}"/>
<line x1="{{$.LegendX}}" x2="{{$.LegendX2}}" y1="{{.LegendY}}" y2="{{.LegendY}}" stroke="{{.Color}}" stroke-width="2.5"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/><text x="{{$.LegendTX}}" y="{{.LegendTY}}">{{.Label}}</text>
{{end}}</svg></figure>{{end}}`
