package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// svgChart is a line chart, laid out in Go and drawn as inline SVG by the
// HTML report's template: no script, no fonts or styles fetched.
type svgChart struct {
	Title                  string
	W, H                   int
	Left, Top, Right, Bot  float64 // the plot area
	XLabel, YLabel         string
	XTicks, YTicks         []svgTick
	Lines                  []svgLine
	LegendX, LegendX2      float64 // the legend's swatches
	LegendTX               float64 // the legend's text
	XMid, YMid             float64 // where the axis labels go
	Empty                  bool
	xmin, xmax, ymin, ymax float64
}

// svgTick is an axis tick: its position along the axis, in pixels, and
// its label.
type svgTick struct {
	Pos   float64
	Label string
}

// svgLine is one line of a chart, with its legend entry.
type svgLine struct {
	Label    string
	Color    string
	Dash     string // stroke-dasharray; "" solid
	Points   string // "x,y x,y ..." in pixels
	LegendY  float64
	LegendTY float64
}

// chartData is one line to draw, in data units.
type chartData struct {
	label  string
	dashed bool
	xs, ys []float64
}

// palette colours the lines in turn.
var palette = [...]string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"}

// newChart lays out lines on a chart with the given x range; the y range
// runs from 0 to the largest y, rounded up to a tick.
func newChart(title, xlabel, ylabel string, xmin, xmax float64, data []chartData) *svgChart {
	c := &svgChart{Title: title, W: 760, H: 340, Left: 72, Top: 28, Right: 560, Bot: 300,
		XLabel: xlabel, YLabel: ylabel, xmin: xmin, xmax: xmax}
	c.LegendX, c.LegendX2, c.LegendTX = c.Right+18, c.Right+40, c.Right+46
	c.XMid, c.YMid = (c.Left+c.Right)/2, (c.Top+c.Bot)/2
	for _, d := range data {
		for _, y := range d.ys {
			c.ymax = max(c.ymax, y)
		}
	}
	c.Empty = c.ymax == 0 || xmax <= xmin
	if c.Empty {
		c.ymax = 1
	}
	step := niceStep(c.ymax / 5)
	c.ymax = math.Ceil(c.ymax/step) * step
	for i, d := range data {
		var pts []string
		for j := range d.xs {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.x(d.xs[j]), c.y(d.ys[j])))
		}
		l := svgLine{Label: d.label, Color: palette[i%len(palette)], Points: strings.Join(pts, " "),
			LegendY: c.Top + 8 + 18*float64(i), LegendTY: c.Top + 12 + 18*float64(i)}
		if d.dashed {
			l.Dash = "6 3"
		}
		c.Lines = append(c.Lines, l)
	}
	return c
}

func (c *svgChart) x(v float64) float64 {
	return c.Left + (v-c.xmin)/(c.xmax-c.xmin)*(c.Right-c.Left)
}

func (c *svgChart) y(v float64) float64 {
	return c.Bot - (v-c.ymin)/(c.ymax-c.ymin)*(c.Bot-c.Top)
}

// yTicks puts ticks along the y axis, labelled by format.
func (c *svgChart) yTicks(format func(float64) string) {
	step := niceStep(c.ymax / 5)
	for v := 0.0; v <= c.ymax+step/2; v += step {
		c.YTicks = append(c.YTicks, svgTick{Pos: c.y(v), Label: format(v)})
	}
}

// xTicks puts ticks at the given x values.
func (c *svgChart) xTicks(vals []float64, format func(float64) string) {
	for _, v := range vals {
		c.XTicks = append(c.XTicks, svgTick{Pos: c.x(v), Label: format(v)})
	}
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// percentileX is where percentile p (0..100) goes on the HDR plot's x
// axis: log10 of 1/(1-p), so 90% is at 1, 99% at 2, 99.9% at 3.
func percentileX(p float64) float64 {
	return math.Log10(1 / (1 - min(p, 99.9999)/100))
}

// percentileChart is the HDR percentile plot of the runs' latencies.
func percentileChart(lines []plotRun) *svgChart {
	var data []chartData
	for _, l := range lines {
		d := chartData{label: l.label, dashed: l.run.Mode == "raw"}
		for _, pt := range l.run.Percentiles {
			d.xs = append(d.xs, percentileX(pt.Percentile))
			d.ys = append(d.ys, float64(pt.Micros))
		}
		data = append(data, d)
	}
	c := newChart("Latency by percentile (HDR plot)", "percentile", "latency", 0, 5, data)
	c.xTicks([]float64{0, 1, 2, 3, 4, 5}, func(v float64) string {
		return strconv.FormatFloat(math.Round(1e5*(1-math.Pow(10, -v)))/1e3, 'f', -1, 64) + "%"
	})
	c.yTicks(func(v float64) string { return fmtMicros(int64(v)) })
	return c
}

// overTimeCharts are the throughput and p99 latency over the runs.
func overTimeCharts(lines []plotRun) (*svgChart, *svgChart) {
	var tput, p99 []chartData
	tmax := 0.0
	for _, l := range lines {
		dt := chartData{label: l.label, dashed: l.run.Mode == "raw"}
		dp := dt
		if s := l.run.OverTime; s != nil {
			for _, pt := range s.Points {
				dt.xs, dt.ys = append(dt.xs, pt.EndS), append(dt.ys, pt.Throughput)
				dp.xs, dp.ys = append(dp.xs, pt.EndS), append(dp.ys, float64(pt.P99))
				tmax = max(tmax, pt.EndS)
			}
		}
		tput, p99 = append(tput, dt), append(p99, dp)
	}
	a := newChart("Throughput over time", "seconds", "ok calls/s", 0, tmax, tput)
	b := newChart("p99 latency over time", "seconds", "p99", 0, tmax, p99)
	step := niceStep(tmax / 6)
	var ts []float64
	for t := 0.0; t <= tmax+step/1e6; t += step {
		ts = append(ts, t)
	}
	secs := func(v float64) string { return strconv.FormatFloat(math.Round(v*1e3)/1e3, 'f', -1, 64) + "s" }
	a.xTicks(ts, secs)
	b.xTicks(ts, secs)
	a.yTicks(func(v float64) string { return fmtCount(v) })
	b.yTicks(func(v float64) string { return fmtMicros(int64(v)) })
	return a, b
}

// fmtCount writes a count compactly: 950, 12k, 1.5M.
func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
