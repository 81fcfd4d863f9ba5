package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
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

// parseVerdict reads a verdict spelled as a name (NTA, YTA, ESH, NAH) or as the numeric code
// of the fionasguo/aita_prediction data (0=NTA, 1=YTA, 2=ESH, 3=NAH).
func parseVerdict(raw json.RawMessage) (Verdict, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(raw, &n); err2 != nil {
			return "", fmt.Errorf("want a verdict name or code, got %s", raw)
		}
		s = strconv.FormatFloat(n, 'f', -1, 64)
	}
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "NTA", "0":
		return VerdictNTA, nil
	case "YTA", "1":
		return VerdictYTA, nil
	case "ESH", "2":
		return VerdictESH, nil
	case "NAH", "3":
		return VerdictNAH, nil
	}
	return "", fmt.Errorf("unknown verdict %q (want NTA, YTA, ESH, NAH or 0-3)", s)
}

// LoadAITAVerdicts reads the fionasguo AITA set (607 posts, aita_fionasguo_607.jsonl):
// JSON lines with "id", "story" and "top_verdict" (the verdict of the top comment, as a name
// or as the code 0=NTA, 1=YTA, 2=ESH, 3=NAH).
func LoadAITAVerdicts(path string) ([]VerdictPost, error) {
	return loadFile(path, "AITA verdicts", ReadAITAVerdicts)
}

// ReadAITAVerdicts is LoadAITAVerdicts on a reader; name is used in errors.
func ReadAITAVerdicts(r io.Reader, name string) ([]VerdictPost, error) {
	return readJSONL(r, name, "AITA verdicts", func(line int, raw []byte) (VerdictPost, error) {
		var rec struct {
			ID      string          `json:"id"`
			Story   *string         `json:"story"`
			Verdict json.RawMessage `json:"top_verdict"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return VerdictPost{}, err
		}
		if rec.Story == nil || strings.TrimSpace(*rec.Story) == "" {
			return VerdictPost{}, fmt.Errorf("field story: missing or empty")
		}
		if rec.Verdict == nil {
			return VerdictPost{}, fmt.Errorf("field top_verdict: missing")
		}
		v, err := parseVerdict(rec.Verdict)
		if err != nil {
			return VerdictPost{}, fmt.Errorf("field top_verdict: %w", err)
		}
		id := rec.ID
		if id == "" {
			id = fmt.Sprint(line)
		}
		return VerdictPost{ID: id, Text: *rec.Story, Verdict: v}, nil
	})
}

// LoadEthicsAITA reads the long ETHICS commonsense AITA posts (the 1,776 long rows of
// cm_test.csv, as ethics_cm_test_long_aita_1776.jsonl): JSON lines with
// "ethics_cm_test_row", "label_op_wrong" (1 = the author was wrong), "title" and "body". The
// text is the title, a blank line and the body; label 1 becomes YTA and 0 NTA.
func LoadEthicsAITA(path string) ([]VerdictPost, error) {
	return loadFile(path, "ETHICS AITA", ReadEthicsAITA)
}

// ReadEthicsAITA is LoadEthicsAITA on a reader; name is used in errors.
func ReadEthicsAITA(r io.Reader, name string) ([]VerdictPost, error) {
	return readJSONL(r, name, "ETHICS AITA", func(line int, raw []byte) (VerdictPost, error) {
		var rec struct {
			Row   *int    `json:"ethics_cm_test_row"`
			Label *int    `json:"label_op_wrong"`
			Title string  `json:"title"`
			Body  *string `json:"body"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return VerdictPost{}, err
		}
		if rec.Body == nil || strings.TrimSpace(*rec.Body) == "" {
			return VerdictPost{}, fmt.Errorf("field body: missing or empty")
		}
		if rec.Label == nil || (*rec.Label != 0 && *rec.Label != 1) {
			return VerdictPost{}, fmt.Errorf("field label_op_wrong: want 0 or 1")
		}
		id := fmt.Sprint(line)
		if rec.Row != nil {
			id = fmt.Sprint(*rec.Row)
		}
		v := VerdictNTA
		if *rec.Label == 1 {
			v = VerdictYTA
		}
		text := strings.TrimSpace(*rec.Body)
		if t := strings.TrimSpace(rec.Title); t != "" {
			text = t + "\n\n" + text
		}
		return VerdictPost{ID: id, Text: text, Verdict: v}, nil
	})
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
	Verdict     string             `json:"verdict"`
	N           int                `json:"n"`
	MeanControl map[Label]float64  `json:"mean_p_control"`
	MeanTuned   map[Label]float64  `json:"mean_p_tuned"`
	Shift       map[Label]Summary  `json:"shift_pp"`
	Accuracy    map[string]float64 `json:"accuracy,omitempty"`
}

// VerdictReport compares a tuned model with a control on a verdict-only AITA set.
//
// Accuracy is binary: the gold says the author was wrong for YTA and ESH and not wrong for NTA
// and NAH; the model says the author was wrong when p(YTA) > p(NTA) (Neutral is ignored).
// Groups has one entry per gold verdict, sorted by name, and All covers every post.
type VerdictReport struct {
	Prompt          AITAPromptInfo      `json:"prompt"`
	N               int                 `json:"n"`
	AccuracyControl float64             `json:"accuracy_control"`
	AccuracyTuned   float64             `json:"accuracy_tuned"`
	All             VerdictGroup        `json:"all"`
	Groups          []VerdictGroup      `json:"by_verdict"`
	Results         []VerdictPostResult `json:"results"`
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
	groups := map[string][]int{}
	all := make([]int, len(posts))
	for i, p := range posts {
		rep.Results = append(rep.Results, VerdictPostResult{ID: p.ID, Verdict: p.Verdict, Control: pc[i], Tuned: pt[i]})
		groups[string(p.Verdict)] = append(groups[string(p.Verdict)], i)
		all[i] = i
	}
	rep.All = verdictGroup("all", all, posts, pc, pt)
	rep.AccuracyControl, rep.AccuracyTuned = rep.All.Accuracy["control"], rep.All.Accuracy["tuned"]
	for _, v := range slices.Sorted(maps.Keys(groups)) {
		rep.Groups = append(rep.Groups, verdictGroup(v, groups[v], posts, pc, pt))
	}
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
