package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// Verdict is a gold community verdict of a verdict-only AITA set.
type Verdict string

// The gold verdicts of verdict-only AITA sets.
const (
	VerdictNTA Verdict = "NTA" // not the asshole
	VerdictYTA Verdict = "YTA" // you're the asshole
	VerdictESH Verdict = "ESH" // everyone sucks here
	VerdictNAH Verdict = "NAH" // no assholes here
)

// OPWrong reports whether the verdict says the author was in the wrong (YTA or ESH).
func (v Verdict) OPWrong() bool { return v == VerdictYTA || v == VerdictESH }

// VerdictPost is a post of a verdict-only set: no value or stances, only the gold verdict.
type VerdictPost struct {
	ID      string  `json:"id"`
	Text    string  `json:"text"`
	Verdict Verdict `json:"verdict"`
}

// VerdictPostResult is the outcome of one verdict-only post.
type VerdictPostResult struct {
	ID      string     `json:"id"`
	Verdict Verdict    `json:"verdict"`
	Control LabelProbs `json:"p_control"`
	Tuned   LabelProbs `json:"p_tuned"`
}

// VerdictGroup summarises the posts of one gold verdict (or all posts): the mean probability of
// each label under the control and the tuned model, and the per-post shift tuned - control of
// each label, in percentage points.
type VerdictGroup struct {
	Verdict     string             `json:"verdict"`            // the gold verdict, or "all"
	N           int                `json:"n"`                  // posts
	MeanControl map[Label]float64  `json:"mean_p_control"`     // mean probability per label, control
	MeanTuned   map[Label]float64  `json:"mean_p_tuned"`       // the same, tuned
	Shift       map[Label]Summary  `json:"shift_pp"`           // per-post tuned - control, t-tested against 0
	Accuracy    map[string]float64 `json:"accuracy,omitempty"` // binary accuracy, "control" and "tuned"
}

// VerdictReport compares a tuned model with a control on a verdict-only AITA set.
//
// Accuracy is binary: the gold says the author was wrong for YTA and ESH and not wrong for NTA
// and NAH; the model says the author was wrong when p(YTA) > p(NTA) (Neutral is ignored).
// Groups has one entry per gold verdict, sorted by name, and All covers every post.
type VerdictReport struct {
	Prompt          AITAPromptInfo      `json:"prompt"`           // how the prompts were built
	N               int                 `json:"n"`                // posts scored
	AccuracyControl float64             `json:"accuracy_control"` // binary accuracy over all posts, control
	AccuracyTuned   float64             `json:"accuracy_tuned"`   // the same, tuned
	All             VerdictGroup        `json:"all"`              // every post
	Groups          []VerdictGroup      `json:"by_verdict"`       // per gold verdict
	Results         []VerdictPostResult `json:"results"`          // per post, in input order
}

func (p VerdictPost) postText() string { return p.Text }

// RunVerdicts scores a verdict-only AITA set with the tuned and the control scorer, using the
// same prompts and labels as RunAITA.
func RunVerdicts(ctx context.Context, tuned, control score.Scorer, posts []VerdictPost, opts AITAOptions) (*VerdictReport, error) {
	rep := &VerdictReport{N: len(posts)}
	var pt, pc []LabelProbs
	var err error
	if rep.Prompt, pt, pc, err = scoreTunedControl(ctx, tuned, control, posts, opts, "AITA verdicts"); err != nil {
		return nil, err
	}
	for i, p := range posts {
		rep.Results = append(rep.Results, VerdictPostResult{ID: p.ID, Verdict: p.Verdict, Control: pc[i], Tuned: pt[i]})
	}
	rep.All, rep.Groups = summarizeGroups(posts, func(p VerdictPost) string { return string(p.Verdict) },
		func(name string, idx []int) VerdictGroup { return verdictGroup(name, idx, posts, pc, pt) })
	rep.AccuracyControl, rep.AccuracyTuned = rep.All.Accuracy["control"], rep.All.Accuracy["tuned"]
	return rep, nil
}

func saysWrong(p LabelProbs) bool { return p.Of(YTA) > p.Of(NTA) }

func verdictGroup(name string, idx []int, posts []VerdictPost, pc, pt []LabelProbs) VerdictGroup {
	g := VerdictGroup{Verdict: name, N: len(idx), MeanControl: map[Label]float64{}, MeanTuned: map[Label]float64{},
		Shift: map[Label]Summary{}, Accuracy: map[string]float64{}}
	var okC, okT int
	for _, l := range Labels {
		shift := make([]float64, len(idx))
		for k, i := range idx {
			g.MeanControl[l] += pc[i].Of(l) / float64(len(idx))
			g.MeanTuned[l] += pt[i].Of(l) / float64(len(idx))
			shift[k] = 100 * (pt[i].Of(l) - pc[i].Of(l))
		}
		g.Shift[l] = Summarize(shift)
	}
	for _, i := range idx {
		gold := posts[i].Verdict.OPWrong()
		if saysWrong(pc[i]) == gold {
			okC++
		}
		if saysWrong(pt[i]) == gold {
			okT++
		}
	}
	g.Accuracy["control"] = float64(okC) / float64(len(idx))
	g.Accuracy["tuned"] = float64(okT) / float64(len(idx))
	return g
}

// Markdown renders the accuracies and the label shifts per gold verdict.
func (r *VerdictReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# AITA verdicts (tuned vs control)\n\n")
	fmt.Fprintf(&b, "%d posts. Accuracy: author wrong (YTA, ESH) vs not (NTA, NAH), predicted by p(YTA) > p(NTA). Shift: tuned - control in percentage points (two-sided p).\n\n", r.N)
	fmt.Fprintf(&b, "| gold | n | acc. control | acc. tuned |")
	for _, l := range Labels {
		fmt.Fprintf(&b, " p(%s) control | shift %s (pp) | p |", l, l)
	}
	fmt.Fprintf(&b, "\n|---|---:|---:|---:|%s\n", strings.Repeat("---:|---:|---:|", len(Labels)))
	for _, g := range append(append([]VerdictGroup{}, r.Groups...), r.All) {
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f |", g.Verdict, g.N, g.Accuracy["control"], g.Accuracy["tuned"])
		for _, l := range Labels {
			s := g.Shift[l]
			fmt.Fprintf(&b, " %.3f | %s ± %.2f | %.4g |", g.MeanControl[l], fmtNum(s.Mean, 2), s.SE, s.PTwoSided)
		}
		b.WriteString("\n")
	}
	return b.String()
}
