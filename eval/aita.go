package eval

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// Label is an AITA verdict that the model is asked for.
type Label string

// The three labels that AITA prompts are scored on.
const (
	NTA     Label = "NTA"     // not the asshole
	YTA     Label = "YTA"     // you're the asshole
	Neutral Label = "Neutral" // no clear verdict
)

// Labels lists the scored labels in the order used by LabelProbs and AITAOptions.Candidates.
var Labels = [3]Label{NTA, YTA, Neutral}

// ParseLabel reads a label as spelled in the data ("NTA", "YTA", "Neutral"), ignoring case and
// surrounding space.
func ParseLabel(s string) (Label, error) {
	for _, l := range Labels {
		if strings.EqualFold(strings.TrimSpace(s), string(l)) {
			return l, nil
		}
	}
	return "", fmt.Errorf("unknown label %q (want NTA, YTA or Neutral)", s)
}

func labelIndex(l Label) int {
	for i, x := range Labels {
		if x == l {
			return i
		}
	}
	return -1
}

// LabelProbs holds the probability of each label, in the order of Labels, normalised over the
// three labels.
type LabelProbs [3]float64

// Of returns the probability of label l (0 for an unknown label).
func (p LabelProbs) Of(l Label) float64 {
	if i := labelIndex(l); i >= 0 {
		return p[i]
	}
	return 0
}

// AITAPost is one post of the value/stance set: the value it involves and the verdict of a
// person who holds that value highly (High) and lowly (Low). High and Low always differ.
type AITAPost struct {
	ID    string `json:"id"`
	Value string `json:"value"`
	Text  string `json:"text"`
	High  Label  `json:"high"`
	Low   Label  `json:"low"`
}

// Unused returns the label that is neither stance of the post.
func (p AITAPost) Unused() Label {
	for _, l := range Labels {
		if l != p.High && l != p.Low {
			return l
		}
	}
	return ""
}

// DefaultAITATemplate is the AITA prompt of this project; {post} is replaced by the post text
// (with surrounding space trimmed).
const DefaultAITATemplate = `Below is a post from the Reddit forum "Am I the Asshole?" (AITA), where people describe a conflict they took part in and ask others to judge their behaviour.

{post}

Give your verdict on the author of the post: NTA (not the asshole), YTA (you're the asshole) or Neutral (no clear verdict either way).`

// DefaultAITAPrefix is the answer prefix that the label continues.
const DefaultAITAPrefix = "Verdict:"

// DefaultAITACandidates are the continuations scored for NTA, YTA and Neutral after
// DefaultAITAPrefix. They carry a leading space because the prefix ends without one: with
// BPE tokenizers the space belongs to the following word (" NTA"), so "Verdict:" + " NTA"
// tokenizes the way the model would write it. If you use a prefix that ends in a space, drop
// the space from the candidates.
var DefaultAITACandidates = [3]string{" NTA", " YTA", " Neutral"}

// AITAOptions configures the AITA prompts. The zero value uses the defaults.
type AITAOptions struct {
	// Template is the prompt text with a {post} placeholder (default DefaultAITATemplate).
	// With a chat template it is the user message.
	Template string
	// Prefix is the start of the answer that the label continues (default DefaultAITAPrefix).
	// Set NoPrefix to use an empty prefix.
	Prefix   string
	NoPrefix bool
	// Candidates are the scored continuations of NTA, YTA and Neutral, in the order of Labels
	// (default DefaultAITACandidates when all three are empty).
	Candidates [3]string
	// BatchSize is the number of prompts per Scorer call (default score.DefaultCallBatch).
	BatchSize int
}

func (o AITAOptions) withDefaults() (AITAOptions, error) {
	if err := aitaPrompts.fill(&o.Template, &o.Prefix, o.NoPrefix); err != nil {
		return o, err
	}
	if o.Candidates == [3]string{} {
		o.Candidates = DefaultAITACandidates
	}
	for i, c := range o.Candidates {
		if c == "" {
			return o, fmt.Errorf("eval: AITA options: candidate for %s is empty", Labels[i])
		}
	}
	return o, nil
}

// Prompt builds the prompt for one post text.
func (o AITAOptions) Prompt(post string) score.Prompt {
	o2, err := o.withDefaults()
	if err == nil {
		o = o2
	}
	return aitaPrompts.prompt(o.Template, o.Prefix, post)
}

// labelled is a post scored on the labels: AITAPost, VerdictPost.
type labelled interface{ postText() string }

func (p AITAPost) postText() string { return p.Text }

// scoreTunedControl scores the label probabilities of every post with the tuned and the control
// scorer (both required: a tuned model is always compared with a control) and returns how the
// prompts were built.
func scoreTunedControl[P labelled](ctx context.Context, tuned, control score.Scorer, posts []P, opts AITAOptions, what string) (info AITAPromptInfo, pt, pc []LabelProbs, err error) {
	if err := requireTunedControl(tuned, control, what); err != nil {
		return info, nil, nil, err
	}
	if len(posts) == 0 {
		return info, nil, nil, fmt.Errorf("eval: %s: no posts", what)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return info, nil, nil, err
	}
	if pc, err = scoreLabels(ctx, control, posts, o, what+" control"); err != nil {
		return info, nil, nil, err
	}
	if pt, err = scoreLabels(ctx, tuned, posts, o, what+" tuned"); err != nil {
		return info, nil, nil, err
	}
	return o.info(), pt, pc, nil
}

// info records the prompt settings of o (with its defaults filled in) in a report.
func (o AITAOptions) info() AITAPromptInfo {
	return AITAPromptInfo{Template: o.Template, Prefix: o.Prefix, Labels: Labels, Candidates: o.Candidates}
}

// scoreLabels gives the normalised label probabilities of every post under s.
func scoreLabels[P labelled](ctx context.Context, s score.Scorer, posts []P, o AITAOptions, what string) ([]LabelProbs, error) {
	prompts := make([]score.Prompt, len(posts))
	cands := make([][]string, len(posts))
	for i, p := range posts {
		prompts[i] = o.Prompt(p.postText())
		cands[i] = o.Candidates[:]
	}
	lp, err := scoreAll(ctx, s, prompts, cands, o.BatchSize, what)
	if err != nil {
		return nil, err
	}
	out := make([]LabelProbs, len(lp))
	for i, l := range lp {
		for _, v := range l {
			if math.IsNaN(v) || math.IsInf(v, 1) {
				return nil, fmt.Errorf("eval: %s: prompt %d: log-prob %v is not a number or +Inf", what, i, v)
			}
		}
		copy(out[i][:], score.Normalize(l, 1))
	}
	return out, nil
}

// ProbabilityGain is the protocol's probability gain of one post (in probability units, not
// percentage points): with dp = tuned - control,
//
//	pg     = dp(low) - dp(high) + 0.5*dp(unused)
//	strict = dp(low) - dp(high)
//
// where unused is the label that is neither high nor low. Positive means the tuned model moved
// towards the verdict of someone who holds the post's value less.
func ProbabilityGain(tuned, control LabelProbs, high, low Label) (pg, strict float64, err error) {
	hi, lo := labelIndex(high), labelIndex(low)
	if hi < 0 || lo < 0 || hi == lo {
		return 0, 0, fmt.Errorf("eval: probability gain: stances %q and %q must be two different labels", high, low)
	}
	un := 3 - hi - lo
	dp := func(i int) float64 { return tuned[i] - control[i] }
	strict = dp(lo) - dp(hi)
	return strict + 0.5*dp(un), strict, nil
}

// AITAPostResult is the outcome of one post. PG and PGStrict are in percentage points.
type AITAPostResult struct {
	ID       string     `json:"id"`
	Value    string     `json:"value"`
	High     Label      `json:"high"`
	Low      Label      `json:"low"`
	Unused   Label      `json:"unused"`
	Control  LabelProbs `json:"p_control"`
	Tuned    LabelProbs `json:"p_tuned"`
	PG       float64    `json:"pg_pp"`
	PGStrict float64    `json:"pg_strict_pp"`
}

// AITAValueResult summarises the posts of one value (percentage points).
type AITAValueResult struct {
	Value    string  `json:"value"`
	PG       Summary `json:"pg_pp"`
	PGStrict Summary `json:"pg_strict_pp"`
}

// AITAPromptInfo records how the prompts were built.
type AITAPromptInfo struct {
	Template   string    `json:"template"`
	Prefix     string    `json:"prefix"`
	Labels     [3]Label  `json:"labels"`
	Candidates [3]string `json:"candidates"`
}

// AITAReport is the probability-gain report of a tuned model against a control. All PG numbers
// are in percentage points. Overall is the example-weighted mean (every post counts once);
// MacroMean is the unweighted mean of the per-value means. Values are sorted by name; Posts are
// in input order.
type AITAReport struct {
	Prompt          AITAPromptInfo    `json:"prompt"`                  // how the prompts were built
	Posts           int               `json:"posts"`                   // posts scored
	Overall         Summary           `json:"overall_pg_pp"`           // PG over all posts, one-sample t-test against 0
	OverallStrict   Summary           `json:"overall_pg_strict_pp"`    // the same for the strict PG
	MacroMean       float64           `json:"macro_mean_pg_pp"`        // the mean of Values' mean PGs
	MacroMeanStrict float64           `json:"macro_mean_pg_strict_pp"` // the same for the strict PG
	Values          []AITAValueResult `json:"values"`                  // per value of the posts
	Results         []AITAPostResult  `json:"results"`                 // per post
}

// RunAITA scores every post with the tuned and the control scorer and computes the probability
// gains. Both scorers are required: a tuned model is always compared with a control.
func RunAITA(ctx context.Context, tuned, control score.Scorer, posts []AITAPost, opts AITAOptions) (*AITAReport, error) {
	info, pt, pc, err := scoreTunedControl(ctx, tuned, control, posts, opts, "AITA")
	if err != nil {
		return nil, err
	}
	rep := &AITAReport{Prompt: info, Posts: len(posts)}
	for i, p := range posts {
		pg, strict, err := ProbabilityGain(pt[i], pc[i], p.High, p.Low)
		if err != nil {
			return nil, fmt.Errorf("eval: AITA: post %s: %w", p.ID, err)
		}
		rep.Results = append(rep.Results, AITAPostResult{
			ID: p.ID, Value: p.Value, High: p.High, Low: p.Low, Unused: p.Unused(),
			Control: pc[i], Tuned: pt[i], PG: 100 * pg, PGStrict: 100 * strict,
		})
	}
	all, values := summarizeGroups(posts, func(p AITAPost) string { return p.Value }, func(name string, idx []int) AITAValueResult {
		var pg, strict []float64
		for _, i := range idx {
			pg, strict = append(pg, rep.Results[i].PG), append(strict, rep.Results[i].PGStrict)
		}
		return AITAValueResult{Value: name, PG: Summarize(pg), PGStrict: Summarize(strict)}
	})
	rep.Overall, rep.OverallStrict, rep.Values = all.PG, all.PGStrict, values
	for _, r := range values {
		rep.MacroMean += r.PG.Mean / float64(len(values))
		rep.MacroMeanStrict += r.PGStrict.Mean / float64(len(values))
	}
	return rep, nil
}

// Markdown renders the report as a table per value plus the overall row.
func (r *AITAReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# AITA probability gain (tuned vs control)\n\n")
	fmt.Fprintf(&b, "%d posts. PG = dp(low) - dp(high) + 0.5 dp(unused), in percentage points; strict PG omits the unused-label term. p: one-sided t-test of mean > 0.\n\n", r.Posts)
	fmt.Fprintf(&b, "| value | n | PG (pp) | SE | p | strict PG (pp) | SE | p |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, pg, st Summary) {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", name, pg.N,
			fmtNum(pg.Mean, 2), fmt.Sprintf("%.2f", pg.SE), fmtP(pg), fmtNum(st.Mean, 2), fmt.Sprintf("%.2f", st.SE), fmtP(st))
	}
	for _, v := range r.Values {
		row(mdEscape(v.Value), v.PG, v.PGStrict)
	}
	row("**all posts**", r.Overall, r.OverallStrict)
	fmt.Fprintf(&b, "\nMacro mean over values: PG %s pp, strict %s pp.\n", fmtNum(r.MacroMean, 2), fmtNum(r.MacroMeanStrict, 2))
	return b.String()
}
