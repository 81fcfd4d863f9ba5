package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// DefaultAITACap is the most posts per value that the revised protocol scores.
const DefaultAITACap = 500

// AITAPostsFor returns the posts whose value is value (exact spelling, as in the data, e.g.
// "Benevolence_dependability"), in input order.
func AITAPostsFor(posts []AITAPost, value string) []AITAPost {
	var out []AITAPost
	for _, p := range posts {
		if p.Value == value {
			out = append(out, p)
		}
	}
	return out
}

// CapAITAPosts keeps at most limit posts of every value: a value with more keeps a sample
// drawn without replacement with a generator seeded by (seed, value), so the sample of one value
// does not depend on the others. The kept posts stay in input order. limit <= 0 keeps all.
func CapAITAPosts(posts []AITAPost, limit int, seed uint64) []AITAPost {
	if limit <= 0 {
		return append([]AITAPost(nil), posts...)
	}
	byValue := map[string][]int{}
	for i, p := range posts {
		byValue[p.Value] = append(byValue[p.Value], i)
	}
	keep := make([]bool, len(posts))
	for v, idx := range byValue {
		if len(idx) <= limit {
			for _, i := range idx {
				keep[i] = true
			}
			continue
		}
		rng := rand.New(rand.NewPCG(seed, fnv64(v)))
		for _, k := range rng.Perm(len(idx))[:limit] {
			keep[idx[k]] = true
		}
	}
	var out []AITAPost
	for i, p := range posts {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// fnv64 is the FNV-1a hash of s.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// AITATargetOptions configure RunAITATargets.
type AITATargetOptions struct {
	AITAOptions
	// Cap is the most posts per value (a seeded sample beyond it): 0 means DefaultAITACap, a
	// negative value no cap.
	Cap int
	// Seed seeds the capped samples.
	Seed uint64
}

// AITAStanceProbs are a model's mean label probabilities over a set of posts, by stance: the
// verdict of someone who holds the post's value lowly (Low), highly (High), and the third label.
type AITAStanceProbs struct {
	Model  string  `json:"model"`
	Low    float64 `json:"p_low"`
	High   float64 `json:"p_high"`
	Unused float64 `json:"p_unused"`
}

// AITATarget is the probability gain on the posts of one target value (percentage points).
type AITATarget struct {
	Value string `json:"value"`
	// Available is the number of posts of the value before the cap; PG.N the number scored.
	Available int `json:"available"`
	// PG and PGStrict: tuned vs control, per post, with the one-sided t-test of mean > 0.
	PG       Summary `json:"pg_pp"`
	PGStrict Summary `json:"pg_strict_pp"`
	// BasePG is the same gain of the base model (no adapter) against the control: how far
	// the control adapter itself moved the verdicts (zero N when no base scorer was given).
	BasePG Summary `json:"base_pg_pp"`
	// Probs are the mean stance probabilities of base (when given), control and tuned.
	Probs []AITAStanceProbs `json:"probs"`
}

// AITATargetReport is the protocol's AITA evaluation of an adapter with several targets: the
// probability gain on the posts whose value is a target, per target, with the example-weighted
// mean over the targets' posts as the headline (every post counts once) and a one-sided
// t-test; Pooled is the gain over every (capped) post whatever its value, a secondary figure.
type AITATargetReport struct {
	Prompt         AITAPromptInfo `json:"prompt"`
	Cap            int            `json:"cap_per_value"` // 0: none
	Seed           uint64         `json:"seed"`
	Targets        []AITATarget   `json:"targets"`
	Headline       Summary        `json:"headline_pg_pp"`
	HeadlineStrict Summary        `json:"headline_pg_strict_pp"`
	BaseHeadline   Summary        `json:"base_headline_pg_pp"`
	Pooled         Summary        `json:"pooled_pg_pp"`
	PooledStrict   Summary        `json:"pooled_pg_strict_pp"`
	// NoPosts lists the targets without a single post (they do not enter the headline).
	NoPosts []string `json:"no_posts,omitempty"`
}

// RunAITATargets scores the posts with the control and the tuned scorer (and the base scorer,
// if not nil) and computes the probability gains per target value, the headline over the
// targets and the pooled figure over every post. Posts are capped per value first (see
// AITATargetOptions.Cap). targets are value names as spelled in the posts.
func RunAITATargets(ctx context.Context, base, control, tuned score.Scorer, posts []AITAPost, targets []string, opts AITATargetOptions) (*AITATargetReport, error) {
	if err := requireTunedControl(tuned, control, "AITA per target"); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("eval: AITA per target: no target values")
	}
	limit := opts.Cap
	if limit == 0 {
		limit = DefaultAITACap
	}
	capped := CapAITAPosts(posts, limit, opts.Seed)
	if len(capped) == 0 {
		return nil, fmt.Errorf("eval: AITA per target: no posts")
	}
	o, err := opts.AITAOptions.withDefaults()
	if err != nil {
		return nil, err
	}
	type scored struct {
		name string
		p    []LabelProbs
	}
	var models []scored
	for _, s := range []struct {
		name string
		sc   score.Scorer
	}{{"base", base}, {"control", control}, {"tuned", tuned}} {
		if s.sc == nil {
			continue
		}
		p, err := scoreLabels(ctx, s.sc, capped, o, "AITA per target, "+s.name)
		if err != nil {
			return nil, err
		}
		models = append(models, scored{s.name, p})
	}
	probsOf := func(name string) []LabelProbs {
		for _, m := range models {
			if m.name == name {
				return m.p
			}
		}
		return nil
	}
	pc, pt, pb := probsOf("control"), probsOf("tuned"), probsOf("base")
	rep := &AITATargetReport{
		Prompt: o.info(),
		Cap:    max(limit, 0), Seed: opts.Seed,
	}
	pg := make([]float64, len(capped))
	strict := make([]float64, len(capped))
	basePG := make([]float64, len(capped))
	for i, p := range capped {
		g, st, err := ProbabilityGain(pt[i], pc[i], p.High, p.Low)
		if err != nil {
			return nil, fmt.Errorf("eval: AITA per target: post %s: %w", p.ID, err)
		}
		pg[i], strict[i] = 100*g, 100*st
		if pb != nil {
			g, _, _ := ProbabilityGain(pb[i], pc[i], p.High, p.Low)
			basePG[i] = 100 * g
		}
	}
	rep.Pooled, rep.PooledStrict = Summarize(pg), Summarize(strict)
	available := map[string]int{}
	for _, p := range posts {
		available[p.Value]++
	}
	seen := map[string]bool{}
	var hl, hlStrict, hlBase []float64
	for _, v := range targets {
		if seen[v] {
			continue
		}
		seen[v] = true
		var g, st, bg []float64
		var idx []int
		for i, p := range capped {
			if p.Value == v {
				idx = append(idx, i)
				g, st, bg = append(g, pg[i]), append(st, strict[i]), append(bg, basePG[i])
			}
		}
		t := AITATarget{Value: v, Available: available[v], PG: Summarize(g), PGStrict: Summarize(st)}
		if pb != nil {
			t.BasePG = Summarize(bg)
		}
		for _, m := range models {
			sp := AITAStanceProbs{Model: m.name}
			for _, i := range idx {
				p := capped[i]
				sp.Low += m.p[i].Of(p.Low) / float64(len(idx))
				sp.High += m.p[i].Of(p.High) / float64(len(idx))
				sp.Unused += m.p[i].Of(p.Unused()) / float64(len(idx))
			}
			t.Probs = append(t.Probs, sp)
		}
		if len(idx) == 0 {
			rep.NoPosts = append(rep.NoPosts, v)
		}
		rep.Targets = append(rep.Targets, t)
		hl, hlStrict = append(hl, g...), append(hlStrict, st...)
		if pb != nil {
			hlBase = append(hlBase, bg...)
		}
	}
	rep.Headline, rep.HeadlineStrict, rep.BaseHeadline = Summarize(hl), Summarize(hlStrict), Summarize(hlBase)
	sort.Strings(rep.NoPosts)
	return rep, nil
}

// Markdown renders the per-target report: one row per target, the headline and the pooled
// figure.
func (r *AITATargetReport) Markdown() string {
	var b strings.Builder
	b.WriteString("PG = dp(low) - dp(high) + 0.5 dp(unused), dp = p_tuned - p_control, in percentage points, on the posts whose value is the target; p: one-sided t-test of mean PG > 0. Base PG: the base model (no adapter) against the control.\n\n")
	b.WriteString("| target | posts (available) | PG (pp) | SE | p | strict PG (pp) | base PG (pp) | p_low base / control / tuned |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, t := range r.Targets {
		var ps []string
		for _, p := range t.Probs {
			ps = append(ps, fmt.Sprintf("%.3f", p.Low))
		}
		base := "n/a"
		if t.BasePG.N > 0 {
			base = fmtNum(t.BasePG.Mean, 2)
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %s | %.2f | %s | %s | %s | %s |\n", mdEscape(t.Value), t.PG.N, t.Available,
			fmtNum(t.PG.Mean, 2), t.PG.SE, fmtP(t.PG), fmtNum(t.PGStrict.Mean, 2), base, strings.Join(ps, " / "))
	}
	fmt.Fprintf(&b, "| **headline (example-weighted over targets)** | %d | %s | %.2f | %s | %s | %s | |\n", r.Headline.N,
		fmtNum(r.Headline.Mean, 2), r.Headline.SE, fmtP(r.Headline), fmtNum(r.HeadlineStrict.Mean, 2), fmtNum(r.BaseHeadline.Mean, 2))
	fmt.Fprintf(&b, "\nPooled over all %d posts (every value, secondary): PG %s pp (SE %.2f, p %s).\n",
		r.Pooled.N, fmtNum(r.Pooled.Mean, 2), r.Pooled.SE, fmtP(r.Pooled))
	if r.Cap > 0 {
		fmt.Fprintf(&b, "At most %d posts per value (seeded sample, seed %d).\n", r.Cap, r.Seed)
	}
	if len(r.NoPosts) > 0 {
		fmt.Fprintf(&b, "No posts for: %s.\n", strings.Join(r.NoPosts, ", "))
	}
	return b.String()
}
