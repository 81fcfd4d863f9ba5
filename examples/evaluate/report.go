// The report of an evaluation: its run information and the task's report, and the headline
// printed on stdout.

package main

import (
	"fmt"
	"strings"

	"github.com/valora-go/valora/eval"
)

// runInfo is what report.json holds: the run's settings and the task's report.
type runInfo struct {
	Task      string              `json:"task"`
	Model     string              `json:"model"`
	Tokenizer string              `json:"tokenizer"`
	Adapter   string              `json:"adapter"`         // tuned = base + Adapter ("" = base)
	Control   string              `json:"control_adapter"` // control = base + Control ("" = base)
	Data      string              `json:"data"`
	Format    string              `json:"format,omitempty"`
	ShortOnly *bool               `json:"short_only,omitempty"`
	Agent     string              `json:"agent,omitempty"`
	Chat      bool                `json:"chat"`
	Limit     int                 `json:"limit"`
	Items     int                 `json:"items"`
	Report    eval.MarkdownReport `json:"report"`
}

// Markdown puts the run's settings before the task's report.
func (r runInfo) Markdown() string {
	side := func(dir string) string {
		if dir == "" {
			return "base model"
		}
		return "base model + adapter `" + dir + "`"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Task `%s` on `%s` (%d items", r.Task, r.Data, r.Items)
	if r.Limit > 0 {
		fmt.Fprintf(&b, ", -limit %d", r.Limit)
	}
	fmt.Fprintf(&b, "). Model `%s`; tuned: %s; control: %s", r.Model, side(r.Adapter), side(r.Control))
	if r.Chat {
		b.WriteString("; chat template")
	}
	b.WriteString(".\n\n")
	b.WriteString(r.Report.Markdown())
	return b.String()
}

func aitaHeadline(r *eval.AITAReport) string {
	return fmt.Sprintf("aita: %d posts, %d values: PG %+.2f pp (SE %.2f, one-sided p %.3g, n %d); strict PG %+.2f pp (p %.3g); macro mean over values %+.2f pp",
		r.Posts, len(r.Values), r.Overall.Mean, r.Overall.SE, r.Overall.P, r.Overall.N,
		r.OverallStrict.Mean, r.OverallStrict.P, r.MacroMean)
}

func verdictsHeadline(r *eval.VerdictReport, format string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdicts (%s): %d posts: accuracy control %.3f, tuned %.3f; shift", format, r.N, r.AccuracyControl, r.AccuracyTuned)
	for i, l := range eval.Labels {
		s := r.All.Shift[l]
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s p(%s) %+.2f pp (p %.3g)", sep, l, s.Mean, s.PTwoSided)
	}
	return b.String()
}

func moralHeadline(task string, r *eval.MoralReport) string {
	g := r.All
	return fmt.Sprintf("%s: %d items: accuracy control %.3f, tuned %.3f; shift p(wrong) %+.2f pp (p %.3g), shift p(correct) %+.2f pp (p %.3g)",
		task, g.N, g.AccuracyControl, g.AccuracyTuned, g.ShiftWrong.Mean, g.ShiftWrong.PTwoSided, g.ShiftCorrect.Mean, g.ShiftCorrect.PTwoSided)
}
