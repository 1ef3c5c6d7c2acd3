package admin

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"switchboard/internal/gateway"
)

// chartSeries is one line of a chart.
type chartSeries struct {
	Name   string
	Color  string
	Values []float64
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH           = 640.0, 180.0
	chartLeft, chartBottom   = 56.0, 22.0
	chartTop, chartRightPad  = 22.0, 8.0
	chartPlotW               = chartW - chartLeft - chartRightPad
	chartPlotH               = chartH - chartTop - chartBottom
	chartColorA, chartColorB = "#2563eb", "#dc2626"
)

// lineChart draws series over labels as an inline SVG: no script, readable
// as an image without JavaScript, its numbers in a <title> for tooltips
// and screen readers.
func lineChart(title, unit string, labels []time.Time, layout string, series ...chartSeries) template.HTML {
	maxV := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			maxV = max(maxV, v)
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="12" font-weight="bold" fill="#111">%s</text>`, chartLeft, html.EscapeString(title))
	// Axes and the top and bottom values.
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#999" stroke-width="1"/>`, chartLeft, chartTop+chartPlotH, chartLeft+chartPlotW, chartTop+chartPlotH)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#ddd" stroke-width="1"/>`, chartLeft, chartTop, chartLeft+chartPlotW, chartTop)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end" fill="#555">%s</text>`, chartLeft-4, chartTop+4, html.EscapeString(axisValue(maxV, unit)))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end" fill="#555">0</text>`, chartLeft-4, chartTop+chartPlotH+3)
	if len(labels) > 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" fill="#555">%s</text>`, chartLeft, chartH-6, labels[0].UTC().Format(layout))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end" fill="#555">%s</text>`, chartLeft+chartPlotW, chartH-6, labels[len(labels)-1].UTC().Format(layout))
	}
	legendX := chartW - chartRightPad
	for i := len(series) - 1; i >= 0; i-- {
		s := series[i]
		fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="11" text-anchor="end" fill="%s">%s</text>`, legendX, s.Color, html.EscapeString(s.Name))
		legendX -= float64(len(s.Name))*6.5 + 14
	}
	for _, s := range series {
		n := len(s.Values)
		if n == 0 {
			continue
		}
		var pts []string
		for i, v := range s.Values {
			x := chartLeft
			if n > 1 {
				x += chartPlotW * float64(i) / float64(n-1)
			}
			y := chartTop + chartPlotH - chartPlotH*v/maxV
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		if n == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="3" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), s.Color)
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, s.Color, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers and escaped text only
}

func axisValue(v float64, unit string) string {
	switch unit {
	case "usd":
		return fmt.Sprintf("$%.4g", v)
	case "ms":
		return fmt.Sprintf("%.0f ms", v)
	}
	if v >= 1e6 {
		return fmt.Sprintf("%.3gM", v/1e6)
	}
	if v >= 1e4 {
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// dashboardCharts lays the per-bucket totals out on n buckets of step from
// since (buckets with no calls are zeros) and draws the dashboard's charts.
func dashboardCharts(groups []gateway.UsageGroup, since time.Time, step time.Duration, n int) []template.HTML {
	labels := make([]time.Time, n)
	byBucket := make([]gateway.UsageTotals, n)
	for i := range labels {
		labels[i] = since.Add(time.Duration(i) * step)
	}
	for _, g := range groups {
		i := int(g.Bucket.Sub(since) / step)
		if i >= 0 && i < n {
			byBucket[i] = g.UsageTotals
		}
	}
	col := func(f func(t *gateway.UsageTotals) float64) []float64 {
		out := make([]float64, n)
		for i := range byBucket {
			out[i] = f(&byBucket[i])
		}
		return out
	}
	layout := "Jan 2 15:04"
	if step >= 24*time.Hour {
		layout = "Jan 2"
	}
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return []template.HTML{
		lineChart("Requests and errors", "", labels, layout,
			chartSeries{"requests", chartColorA, col(func(t *gateway.UsageTotals) float64 { return float64(t.Requests) })},
			chartSeries{"errors", chartColorB, col(func(t *gateway.UsageTotals) float64 { return float64(t.Errors) })}),
		lineChart("Tokens", "", labels, layout,
			chartSeries{"input", chartColorA, col(func(t *gateway.UsageTotals) float64 { return float64(t.InputTokens) })},
			chartSeries{"output", chartColorB, col(func(t *gateway.UsageTotals) float64 { return float64(t.OutputTokens) })}),
		lineChart("Cost and price (USD)", "usd", labels, layout,
			chartSeries{"price", chartColorA, col(func(t *gateway.UsageTotals) float64 { return float64(t.PriceNanoUSD) / 1e9 })},
			chartSeries{"cost", chartColorB, col(func(t *gateway.UsageTotals) float64 { return float64(t.CostNanoUSD) / 1e9 })}),
		lineChart("Latency", "ms", labels, layout,
			chartSeries{"p50", chartColorA, col(func(t *gateway.UsageTotals) float64 { return msOf(t.Latency.Quantile(0.5)) })},
			chartSeries{"p99", chartColorB, col(func(t *gateway.UsageTotals) float64 { return msOf(t.Latency.Quantile(0.99)) })}),
		lineChart("Time to first token", "ms", labels, layout,
			chartSeries{"p50", chartColorA, col(func(t *gateway.UsageTotals) float64 { return msOf(t.TTFT.Quantile(0.5)) })},
			chartSeries{"p99", chartColorB, col(func(t *gateway.UsageTotals) float64 { return msOf(t.TTFT.Quantile(0.99)) })}),
	}
}
