package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
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

// LoadAITAStances reads the authors' value/stance set: JSON lines with the fields "value",
// "post", "high_standard_stance" and "low_standard_stance" (other fields, such as
// "justification", are ignored), as in the authors' sample file aita_value_stances_sample.jsonl.
// A post's ID is its 1-based line number. Empty lines are skipped.
func LoadAITAStances(path string) ([]AITAPost, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: load AITA stances: %w", err)
	}
	defer f.Close()
	return ReadAITAStances(f, path)
}

// ReadAITAStances is LoadAITAStances on a reader; name is used in errors.
func ReadAITAStances(r io.Reader, name string) ([]AITAPost, error) {
	var posts []AITAPost
	err := eachJSONLine(r, func(line int, raw []byte) error {
		var rec struct {
			Value *string `json:"value"`
			Post  *string `json:"post"`
			High  *string `json:"high_standard_stance"`
			Low   *string `json:"low_standard_stance"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		for _, f := range []struct {
			name string
			v    *string
		}{{"value", rec.Value}, {"post", rec.Post}, {"high_standard_stance", rec.High}, {"low_standard_stance", rec.Low}} {
			if f.v == nil || strings.TrimSpace(*f.v) == "" {
				return fmt.Errorf("field %s: missing or empty", f.name)
			}
		}
		high, err := ParseLabel(*rec.High)
		if err != nil {
			return fmt.Errorf("field high_standard_stance: %w", err)
		}
		low, err := ParseLabel(*rec.Low)
		if err != nil {
			return fmt.Errorf("field low_standard_stance: %w", err)
		}
		if high == low {
			return fmt.Errorf("fields high_standard_stance and low_standard_stance: both %s, want different stances", high)
		}
		posts = append(posts, AITAPost{ID: fmt.Sprint(line), Value: *rec.Value, Text: *rec.Post, High: high, Low: low})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eval: load AITA stances %s: %w", name, err)
	}
	return posts, nil
}

// eachJSONLine calls fn with the 1-based line number and bytes of every non-empty line of r,
// and wraps fn's errors with the line number.
func eachJSONLine(r io.Reader, fn func(line int, raw []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), MaxJSONLine)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(strings.TrimSpace(string(raw))) == 0 {
			continue
		}
		if err := fn(line, raw); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than the limit of %d bytes a line (MaxJSONLine): %w", line+1, MaxJSONLine, err)
		}
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// MaxJSONLine is the longest line the JSONL loaders accept (64 MiB).
const MaxJSONLine = 64 << 20

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
	// BatchSize is the number of prompts per Scorer call (default DefaultBatchSize).
	BatchSize int
}

func (o AITAOptions) withDefaults() (AITAOptions, error) {
	if o.Template == "" {
		o.Template = DefaultAITATemplate
	}
	if !strings.Contains(o.Template, "{post}") {
		return o, fmt.Errorf("eval: AITA options: template has no {post} placeholder")
	}
	if o.Prefix == "" && !o.NoPrefix {
		o.Prefix = DefaultAITAPrefix
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
func (o AITAOptions) Prompt(post string) Prompt {
	o2, err := o.withDefaults()
	if err == nil {
		o = o2
	}
	return Prompt{Text: strings.ReplaceAll(o.Template, "{post}", strings.TrimSpace(post)), Prefix: o.Prefix}
}

// scoreLabels gives the normalised label probabilities of every text under s.
// scoreTunedControl scores the label probabilities of every text with the tuned and the control
// scorer (both required: a tuned model is always compared with a control).
func scoreTunedControl(ctx context.Context, tuned, control Scorer, texts []string, opts AITAOptions, what string) (o AITAOptions, pt, pc []LabelProbs, err error) {
	if tuned == nil || control == nil {
		return o, nil, nil, fmt.Errorf("eval: %s: both a tuned and a control scorer are required", what)
	}
	if len(texts) == 0 {
		return o, nil, nil, fmt.Errorf("eval: %s: no posts", what)
	}
	if o, err = opts.withDefaults(); err != nil {
		return o, nil, nil, err
	}
	if pc, err = scoreLabels(ctx, control, texts, o, what+" control"); err != nil {
		return o, nil, nil, err
	}
	if pt, err = scoreLabels(ctx, tuned, texts, o, what+" tuned"); err != nil {
		return o, nil, nil, err
	}
	return o, pt, pc, nil
}

func scoreLabels(ctx context.Context, s Scorer, texts []string, o AITAOptions, what string) ([]LabelProbs, error) {
	prompts := make([]Prompt, len(texts))
	cands := make([][]string, len(texts))
	for i, t := range texts {
		prompts[i] = o.Prompt(t)
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
		copy(out[i][:], Normalize(l, 1))
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
	Prompt          AITAPromptInfo    `json:"prompt"`
	Posts           int               `json:"posts"`
	Overall         Summary           `json:"overall_pg_pp"`
	OverallStrict   Summary           `json:"overall_pg_strict_pp"`
	MacroMean       float64           `json:"macro_mean_pg_pp"`
	MacroMeanStrict float64           `json:"macro_mean_pg_strict_pp"`
	Values          []AITAValueResult `json:"values"`
	Results         []AITAPostResult  `json:"results"`
}

// RunAITA scores every post with the tuned and the control scorer and computes the probability
// gains. Both scorers are required: a tuned model is always compared with a control.
func RunAITA(ctx context.Context, tuned, control Scorer, posts []AITAPost, opts AITAOptions) (*AITAReport, error) {
	texts := make([]string, len(posts))
	for i, p := range posts {
		texts[i] = p.Text
	}
	o, pt, pc, err := scoreTunedControl(ctx, tuned, control, texts, opts, "AITA")
	if err != nil {
		return nil, err
	}
	rep := &AITAReport{
		Prompt: AITAPromptInfo{Template: o.Template, Prefix: o.Prefix, Labels: Labels, Candidates: o.Candidates},
		Posts:  len(posts),
	}
	var all, allStrict []float64
	byValue := map[string][2][]float64{}
	for i, p := range posts {
		pg, strict, err := ProbabilityGain(pt[i], pc[i], p.High, p.Low)
		if err != nil {
			return nil, fmt.Errorf("eval: AITA: post %s: %w", p.ID, err)
		}
		pg, strict = 100*pg, 100*strict
		rep.Results = append(rep.Results, AITAPostResult{
			ID: p.ID, Value: p.Value, High: p.High, Low: p.Low, Unused: p.Unused(),
			Control: pc[i], Tuned: pt[i], PG: pg, PGStrict: strict,
		})
		all, allStrict = append(all, pg), append(allStrict, strict)
		v := byValue[p.Value]
		byValue[p.Value] = [2][]float64{append(v[0], pg), append(v[1], strict)}
	}
	rep.Overall, rep.OverallStrict = Summarize(all), Summarize(allStrict)
	for _, name := range sortedKeys(byValue) {
		v := byValue[name]
		r := AITAValueResult{Value: name, PG: Summarize(v[0]), PGStrict: Summarize(v[1])}
		rep.Values = append(rep.Values, r)
		rep.MacroMean += r.PG.Mean / float64(len(byValue))
		rep.MacroMeanStrict += r.PGStrict.Mean / float64(len(byValue))
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

func fmtNum(x float64, prec int) string {
	return fmt.Sprintf("%+.*f", prec, x)
}

func fmtP(s Summary) string {
	if !s.Valid {
		return fmt.Sprintf("%.4g (n/a)", s.P)
	}
	return fmt.Sprintf("%.4g", s.P)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
