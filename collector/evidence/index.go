package evidence

// index.html: the page an auditor opens first. It is self-contained (one
// file, no script, no external resource: the charts are SVG drawn here),
// prints on paper, and reads with a screen reader (headings, table
// headers, a title and description on every chart).

import (
	"context"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
)

type indexData struct {
	From, To, ExportedAt       string
	Collector, Exporter, KeyID string
	PublicKey                  string
	Chain, Slice               audit.Result
	Counts                     []countRow
	Policies                   []policyChart
	Controls                   []controlRow
	Files                      []fileRow
}

type countRow struct {
	What string
	N    int
}

type controlRow struct {
	control
	Files []string
}

type fileRow struct {
	Name, What string
	Controls   []string
	Files      int
	Size       string
}

// policyChart is one policy's (or the fleet's) rates over the period.
type policyChart struct {
	ID, Title                string
	Days, InScope            int
	Average, Lowest, Last    string
	LowestDay                string
	Chart                    chart
	HasData                  bool
	FirstDay, LastDay, Label string
}

// chart is an SVG line chart of a daily percentage.
type chart struct {
	ID          string
	Title, Desc string
	W, H        int
	Left, Top   int
	PlotW       int
	PlotH       int
	Segments    []string
	Dots        []point
	Grid        []gridLine
	XLabels     []xLabel
}

type point struct{ X, Y float64 }

type gridLine struct {
	Y     float64
	Label string
}

type xLabel struct {
	X             float64
	Label, Anchor string
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// charts groups the rates by policy, the fleet first, and draws each.
func charts(rates []registry.DayRate, titles map[string]string) []policyChart {
	byPolicy := map[string][]registry.DayRate{}
	var ids []string
	for _, r := range rates {
		if _, ok := byPolicy[r.PolicyID]; !ok {
			ids = append(ids, r.PolicyID)
		}
		byPolicy[r.PolicyID] = append(byPolicy[r.PolicyID], r)
	}
	slices.SortFunc(ids, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "":
			return -1
		case b == "":
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make([]policyChart, 0, len(ids))
	for i, id := range ids {
		pc := policyChart{ID: orFleet(id), Title: titles[id], Label: id}
		if id == "" {
			pc.Title, pc.Label = "All policies: a device counts once, compliant when it passes or is exempt from every policy in scope", "Fleet"
		}
		pc.Chart = drawChart(fmt.Sprintf("chart-%d", i), byPolicy[id])
		summarise(&pc, byPolicy[id])
		pc.Chart.Title = fmt.Sprintf("%s: daily compliance rate, %s to %s", pc.Label, pc.FirstDay, pc.LastDay)
		pc.Chart.Desc = fmt.Sprintf("Share of in-scope devices compliant each day. Average %s, lowest %s on %s, last day %s.", pc.Average, pc.Lowest, pc.LowestDay, pc.Last)
		if !pc.HasData {
			pc.Chart.Desc = "No device was in this policy's scope during the period."
		}
		out = append(out, pc)
	}
	return out
}

func summarise(pc *policyChart, days []registry.DayRate) {
	pc.Days = len(days)
	if len(days) == 0 {
		return
	}
	pc.FirstDay, pc.LastDay = days[0].Day, days[len(days)-1].Day
	pc.Average, pc.Lowest, pc.Last = "n/a", "n/a", "n/a"
	sum, n, low := 0.0, 0, 2.0
	for _, d := range days {
		if d.InScope == 0 {
			continue
		}
		sum += d.Compliant
		n++
		if d.Compliant < low {
			low, pc.LowestDay = d.Compliant, d.Day
		}
	}
	last := days[len(days)-1]
	pc.InScope = last.InScope
	if last.InScope > 0 {
		pc.Last = pct(last.Compliant)
	}
	if n > 0 {
		pc.HasData = true
		pc.Average, pc.Lowest = pct(sum/float64(n)), pct(low)
	}
}

// drawChart lays out days as a line from 0 to 100%; a day with no device
// in scope breaks the line rather than reading as 0%.
func drawChart(id string, days []registry.DayRate) chart {
	c := chart{ID: id, W: 720, H: 220, Left: 52, Top: 12}
	c.PlotW, c.PlotH = c.W-c.Left-16, c.H-c.Top-36
	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c.Grid = append(c.Grid, gridLine{Y: float64(c.Top) + float64(c.PlotH)*(1-p), Label: fmt.Sprintf("%.0f%%", 100*p)})
	}
	n := len(days)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(c.Left) + float64(c.PlotW)/2
		}
		return float64(c.Left) + float64(c.PlotW)*float64(i)/float64(n-1)
	}
	y := func(f float64) float64 { return float64(c.Top) + float64(c.PlotH)*(1-f) }
	var seg []string
	flush := func() {
		if len(seg) > 1 {
			c.Segments = append(c.Segments, strings.Join(seg, " "))
		}
		seg = nil
	}
	for i, d := range days {
		if d.InScope == 0 {
			flush()
			continue
		}
		seg = append(seg, fmt.Sprintf("%.1f,%.1f", x(i), y(d.Compliant)))
		if n <= 62 || len(seg) == 1 {
			c.Dots = append(c.Dots, point{x(i), y(d.Compliant)})
		}
	}
	flush()
	// Labels: the first and last day and, for longer periods, each month's
	// first day in between.
	for i, d := range days {
		switch {
		case i == 0:
			c.XLabels = append(c.XLabels, xLabel{X: x(i), Label: d.Day, Anchor: "start"})
		case i == n-1:
			c.XLabels = append(c.XLabels, xLabel{X: x(i), Label: d.Day, Anchor: "end"})
		case n > 35 && strings.HasSuffix(d.Day, "-01") && i > 5 && i < n-6:
			c.XLabels = append(c.XLabels, xLabel{X: x(i), Label: d.Day, Anchor: "middle"})
		}
	}
	return c
}

// index writes index.html from what the other sections gathered; the
// files it lists are every file written before it.
func (b *builder) index(ctx context.Context) error {
	d := indexData{
		From: b.opt.From.UTC().Format(time.RFC3339), To: b.opt.To.UTC().Format(time.RFC3339), ExportedAt: b.opt.Now.UTC().Format(time.RFC3339),
		Collector: b.opt.Collector, Exporter: b.opt.Exporter.Name, KeyID: b.opt.Key.KeyID(), PublicKey: b.opt.Key.PublicBase64(),
		Chain: b.chain, Slice: b.slice,
		Policies: charts(b.rates, b.titles),
	}
	for _, k := range []string{"devices", "assets", "device changes", "register changes", "events", "states at start", "transitions",
		"exceptions", "certificates", "principals", "access changes", "audit entries"} {
		d.Counts = append(d.Counts, countRow{k, b.counts[k]})
	}
	files := b.bw.Files()
	rows := map[string]*fileRow{}
	var sizes = map[string]int64{}
	for _, f := range files {
		doc, ok := docFor(f.Name)
		if !ok {
			return fmt.Errorf("file %s has no description in the catalogue", f.Name)
		}
		r := rows[doc.Name]
		if r == nil {
			r = &fileRow{Name: doc.Name, What: doc.What, Controls: doc.Controls}
			rows[doc.Name] = r
		}
		r.Files++
		sizes[doc.Name] += f.Size
	}
	for _, doc := range catalogue() {
		r := rows[doc.Name]
		if doc.Name == "index.html" {
			r = &fileRow{Name: doc.Name, What: doc.What, Files: 1, Size: "—"}
		}
		if r == nil {
			continue
		}
		if r.Size == "" {
			r.Size = byteSize(sizes[doc.Name])
		}
		d.Files = append(d.Files, *r)
	}
	for _, c := range controls() {
		cr := controlRow{control: c}
		for _, f := range d.Files {
			if slices.Contains(f.Controls, c.ID) {
				cr.Files = append(cr.Files, f.Name)
			}
		}
		d.Controls = append(d.Controls, cr)
	}
	w, err := b.bw.Create("index.html")
	if err != nil {
		return err
	}
	return indexPage().Execute(w, d)
}

func byteSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func indexPage() *template.Template {
	return template.Must(template.New("index").Funcs(template.FuncMap{
		"join": strings.Join,
		"add":  func(a, b int) int { return a + b },
		"isDir": func(name string) bool {
			return strings.HasSuffix(name, "/")
		},
	}).Parse(indexHTML))
}

const indexHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roster evidence, {{.From}} to {{.To}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;max-width:62rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
.scroll{overflow-x:auto;margin:.6rem 0}table{border-collapse:collapse;width:100%}caption{text-align:left;font-weight:600;padding:.2rem 0}
pre{white-space:pre-wrap;word-break:break-all}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.92em;word-break:break-all}
.ok{color:#0a6b2d;font-weight:600}.bad{color:#a4161a;font-weight:600}figure{margin:1rem 0 2rem;break-inside:avoid}
figcaption{font-weight:600;margin-bottom:.3rem}svg{max-width:100%;height:auto}.line{fill:none;stroke:#1f5fa8;stroke-width:2}
.dot{fill:#1f5fa8}.grid{stroke:#ddd;stroke-width:1}.axis{stroke:#555;stroke-width:1}svg text{font-size:11px;fill:#333}
@media print{body{margin:0;max-width:none}.scroll{overflow:visible}h2{break-after:avoid}tr{break-inside:avoid}a{color:inherit;text-decoration:none}}
</style></head>
<body>
<header>
<h1>Roster evidence bundle</h1>
<p>Period: <strong><time datetime="{{.From}}">{{.From}}</time></strong> (inclusive) to <strong><time datetime="{{.To}}">{{.To}}</time></strong> (exclusive).</p>
<p>Exported at <time datetime="{{.ExportedAt}}">{{.ExportedAt}}</time> by <strong>{{.Exporter}}</strong> from collector <strong>{{.Collector}}</strong>.</p>
</header>
<main>
<h2 id="verify">How to check this bundle</h2>
<p><code>manifest.json</code> lists every file with its SHA-256 and size; <code>manifest.sig</code> is the collector's Ed25519 signature over it, by key <code>{{.KeyID}}</code>.
Check the bundle offline, zipped or extracted, with the key the collector publishes (<code>roster-collector ca command-key</code>); take the key from the collector's operators, not from this page:</p>
<pre><code>rosterctl evidence verify BUNDLE --public-key {{.PublicKey}}</code></pre>
<p>It fails, naming the file, when any byte of any file was changed, or a file is missing or added.</p>

<h2 id="audit">Audit log verification at export</h2>
<div class="scroll" role="region" tabindex="0" aria-labelledby="t1"><table>
<caption id="t1">Hash chain and signed checkpoints</caption>
<thead><tr><th scope="col">What</th><th scope="col">Result</th><th scope="col">Entries</th><th scope="col">From entry</th><th scope="col">To entry</th><th scope="col">Signed checkpoints</th><th scope="col">Problem</th></tr></thead>
<tbody>
<tr><th scope="row">Whole chain</th>{{template "result" .Chain}}</tr>
<tr><th scope="row">This period's slice (<code>audit/log.jsonl</code>)</th>{{template "result" .Slice}}</tr>
</tbody></table></div>

<h2 id="summary">Summary</h2>
<div class="scroll" role="region" tabindex="0" aria-labelledby="t2"><table>
<caption id="t2">What the bundle holds</caption>
<thead><tr><th scope="col">Records</th><th scope="col">Count</th></tr></thead>
<tbody>{{range .Counts}}<tr><th scope="row">{{.What}}</th><td class="n">{{.N}}</td></tr>
{{end}}</tbody></table></div>

<h2 id="compliance">Compliance over the period</h2>
{{if .Policies}}<div class="scroll" role="region" tabindex="0" aria-labelledby="t3"><table>
<caption id="t3">Daily compliance rate (share of in-scope devices passing or exempt)</caption>
<thead><tr><th scope="col">Policy</th><th scope="col">Title</th><th scope="col">Days</th><th scope="col">Average</th><th scope="col">Lowest (day)</th><th scope="col">Last day</th><th scope="col">In scope, last day</th></tr></thead>
<tbody>{{range .Policies}}<tr><th scope="row"><a href="#{{.Chart.ID}}">{{.Label}}</a></th><td>{{.Title}}</td><td class="n">{{.Days}}</td><td class="n">{{.Average}}</td><td class="n">{{.Lowest}}{{if .LowestDay}} ({{.LowestDay}}){{end}}</td><td class="n">{{.Last}}</td><td class="n">{{.InScope}}</td></tr>
{{end}}</tbody></table></div>
{{range .Policies}}<figure id="{{.Chart.ID}}">
<figcaption>{{.Label}}{{if .Title}}: {{.Title}}{{end}}</figcaption>
{{template "chart" .Chart}}
</figure>
{{end}}{{else}}<p>No compliance results were recorded for the period.</p>{{end}}
<p>Per day and policy: <a href="compliance/daily-rates.csv"><code>compliance/daily-rates.csv</code></a>; per device: <a href="compliance/states-at-start.csv"><code>compliance/states-at-start.csv</code></a> and <a href="compliance/transitions.csv"><code>compliance/transitions.csv</code></a>.</p>

<h2 id="controls">Controls and their evidence</h2>
<div class="scroll" role="region" tabindex="0" aria-labelledby="t4"><table>
<caption id="t4">Control ids mapped to the files that evidence them</caption>
<thead><tr><th scope="col">Control</th><th scope="col">Framework</th><th scope="col">Control title</th><th scope="col">Files</th></tr></thead>
<tbody>{{range .Controls}}<tr><th scope="row">{{.ID}}</th><td>{{.Framework}}</td><td>{{.Title}}</td><td>{{range $i, $f := .Files}}{{if $i}}, {{end}}<a href="{{$f}}"><code>{{$f}}</code></a>{{end}}</td></tr>
{{end}}</tbody></table></div>

<h2 id="files">Files</h2>
<p>The inventory and register are as recorded at export time; the changes, compliance history, exceptions, certificates and audit entries are those of the period. Times are UTC.</p>
<div class="scroll" role="region" tabindex="0" aria-labelledby="t5"><table>
<caption id="t5">Every file of the bundle</caption>
<thead><tr><th scope="col">File</th><th scope="col">What it is</th><th scope="col">Controls</th><th scope="col">Size</th></tr></thead>
<tbody>{{range .Files}}<tr><th scope="row">{{if isDir .Name}}<code>{{.Name}}</code> ({{.Files}} files){{else}}<a href="{{.Name}}"><code>{{.Name}}</code></a>{{end}}</th><td>{{.What}}</td><td>{{join .Controls ", "}}</td><td class="n">{{.Size}}</td></tr>
{{end}}<tr><th scope="row"><code>manifest.json</code>, <code>manifest.sig</code></th><td>The list of files with their SHA-256 and size, and its signature.</td><td></td><td class="n">—</td></tr>
</tbody></table></div>
</main>
</body></html>
{{define "chart"}}<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" aria-labelledby="{{.ID}}-t {{.ID}}-d">
<title id="{{.ID}}-t">{{.Title}}</title><desc id="{{.ID}}-d">{{.Desc}}</desc>
{{range .Grid}}<line class="grid" x1="{{$.Left}}" x2="{{$.Left | add $.PlotW}}" y1="{{.Y}}" y2="{{.Y}}"/><text x="{{$.Left | add -6}}" y="{{.Y}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.Left}}" x2="{{.Left}}" y1="{{.Top}}" y2="{{.Top | add .PlotH}}"/>
{{range .Segments}}<polyline class="line" points="{{.}}"/>
{{end}}{{range .Dots}}<circle class="dot" cx="{{.X}}" cy="{{.Y}}" r="2.5"/>
{{end}}{{range .XLabels}}<text x="{{.X}}" y="{{$.Top | add $.PlotH | add 18}}" text-anchor="{{.Anchor}}">{{.Label}}</text>
{{end}}</svg>{{end}}
{{define "result"}}<td>{{if .OK}}<span class="ok">verified</span>{{else}}<span class="bad">does not verify</span>{{end}}</td><td class="n">{{.Entries}}</td><td class="n">{{.FirstSeq}}</td><td class="n">{{.HeadSeq}}</td><td class="n">{{.Checkpoints}}</td><td>{{with .Problem}}entry {{.Seq}}: {{.Message}}{{end}}</td>{{end}}`
