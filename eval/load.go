// The readers of the benchmarks' data sets (AITA stances and verdicts, ETHICS, Moral Stories)
// and the file and JSON-lines plumbing they share.

package eval

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// LoadAITAStances reads the authors' value/stance set: JSON lines with the fields "value",
// "post", "high_standard_stance" and "low_standard_stance" (other fields, such as
// "justification", are ignored), as in the authors' sample file aita_value_stances_sample.jsonl.
// A post's ID is its 1-based line number. Empty lines are skipped.
func LoadAITAStances(path string) ([]AITAPost, error) {
	return loadFile(path, "AITA stances", ReadAITAStances)
}

// stanceLine is a line of the value/stance set.
type stanceLine struct {
	Value *string `json:"value"`
	Post  *string `json:"post"`
	High  *string `json:"high_standard_stance"`
	Low   *string `json:"low_standard_stance"`
}

// ReadAITAStances is LoadAITAStances on a reader; name is used in errors.
func ReadAITAStances(r io.Reader, name string) ([]AITAPost, error) {
	return readJSONL(r, name, "AITA stances", func(line int, rec stanceLine) (AITAPost, error) {
		for _, f := range []struct {
			name string
			v    *string
		}{{"value", rec.Value}, {"post", rec.Post}, {"high_standard_stance", rec.High}, {"low_standard_stance", rec.Low}} {
			if f.v == nil || strings.TrimSpace(*f.v) == "" {
				return AITAPost{}, fmt.Errorf("field %s: missing or empty", f.name)
			}
		}
		high, err := ParseLabel(*rec.High)
		if err != nil {
			return AITAPost{}, fmt.Errorf("field high_standard_stance: %w", err)
		}
		low, err := ParseLabel(*rec.Low)
		if err != nil {
			return AITAPost{}, fmt.Errorf("field low_standard_stance: %w", err)
		}
		if high == low {
			return AITAPost{}, fmt.Errorf("fields high_standard_stance and low_standard_stance: both %s, want different stances", high)
		}
		return AITAPost{ID: fmt.Sprint(line), Value: *rec.Value, Text: *rec.Post, High: high, Low: low}, nil
	})
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

// verdictLine is a line of the fionasguo AITA set.
type verdictLine struct {
	ID      string          `json:"id"`
	Story   *string         `json:"story"`
	Verdict json.RawMessage `json:"top_verdict"`
}

// ReadAITAVerdicts is LoadAITAVerdicts on a reader; name is used in errors.
func ReadAITAVerdicts(r io.Reader, name string) ([]VerdictPost, error) {
	return readJSONL(r, name, "AITA verdicts", func(line int, rec verdictLine) (VerdictPost, error) {
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
		id := cmp.Or(rec.ID, fmt.Sprint(line))
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

// ethicsAITALine is a line of the long ETHICS AITA posts.
type ethicsAITALine struct {
	Row   *int    `json:"ethics_cm_test_row"`
	Label *int    `json:"label_op_wrong"`
	Title string  `json:"title"`
	Body  *string `json:"body"`
}

// ReadEthicsAITA is LoadEthicsAITA on a reader; name is used in errors.
func ReadEthicsAITA(r io.Reader, name string) ([]VerdictPost, error) {
	return readJSONL(r, name, "ETHICS AITA", func(line int, rec ethicsAITALine) (VerdictPost, error) {
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

// LoadEthicsCommonsense reads an ETHICS commonsense-morality CSV (cm_test.csv,
// cm_test_hard.csv of the ETHICS data set, Hendrycks et al. 2021) with the header
// label,input,is_short,edited; label 1 means the narrator's action is wrong. With shortOnly, the long AITA-style rows (is_short False) are
// skipped; they are the posts that LoadEthicsAITA reads. The ID is the 0-based data row.
func LoadEthicsCommonsense(path string, shortOnly bool) ([]MoralItem, error) {
	return loadFile(path, "ETHICS commonsense", func(r io.Reader, name string) ([]MoralItem, error) {
		return ReadEthicsCommonsense(r, name, shortOnly)
	})
}

// ReadEthicsCommonsense is LoadEthicsCommonsense on a reader; name is used in errors.
func ReadEthicsCommonsense(r io.Reader, name string, shortOnly bool) ([]MoralItem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("eval: load ETHICS commonsense %s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"label", "input"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("eval: load ETHICS commonsense %s: header %q has no column %q (want label,input,is_short,edited)", name, strings.Join(head, ","), need)
		}
	}
	short, hasShort := col["is_short"]
	var items []MoralItem
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("eval: load ETHICS commonsense %s: row %d: %w", name, row, err)
		}
		if len(rec) < len(head) {
			return nil, fmt.Errorf("eval: load ETHICS commonsense %s: row %d: %d fields, want %d", name, row, len(rec), len(head))
		}
		if shortOnly && hasShort && !strings.EqualFold(strings.TrimSpace(rec[short]), "true") {
			continue
		}
		lab := strings.TrimSpace(rec[col["label"]])
		if lab != "0" && lab != "1" {
			return nil, fmt.Errorf("eval: load ETHICS commonsense %s: row %d: field label: %q, want 0 or 1", name, row, lab)
		}
		text := strings.TrimSpace(rec[col["input"]])
		if text == "" {
			return nil, fmt.Errorf("eval: load ETHICS commonsense %s: row %d: field input: empty", name, row)
		}
		items = append(items, MoralItem{ID: strconv.Itoa(row), Source: SourceEthicsCM, Text: text, Wrong: lab == "1"})
	}
	return items, nil
}

// LoadMoralStories reads a Moral Stories norm-distance split (Emelin et al.,
// original_ms_norm_distance_{dev,test}.jsonl): JSON lines with
// "ID", "norm", and either "moral_action" (label "1") or "immoral_action" (label "0"). The
// item text is "Norm: {norm}\nAction: {action}"; the item is wrong for an immoral action.
func LoadMoralStories(path string) ([]MoralItem, error) {
	return loadFile(path, "Moral Stories", ReadMoralStories)
}

// moralStoryLine is a line of a Moral Stories split.
type moralStoryLine struct {
	ID       string  `json:"ID"`
	Norm     string  `json:"norm"`
	Moral    *string `json:"moral_action"`
	Immoral  *string `json:"immoral_action"`
	RawLabel any     `json:"label"`
}

// ReadMoralStories is LoadMoralStories on a reader; name is used in errors.
func ReadMoralStories(r io.Reader, name string) ([]MoralItem, error) {
	return readJSONL(r, name, "Moral Stories", func(line int, rec moralStoryLine) (MoralItem, error) {
		if (rec.Moral == nil) == (rec.Immoral == nil) {
			return MoralItem{}, fmt.Errorf("want exactly one of the fields moral_action and immoral_action")
		}
		action, wrong := rec.Moral, false
		if rec.Immoral != nil {
			action, wrong = rec.Immoral, true
		}
		if strings.TrimSpace(*action) == "" {
			return MoralItem{}, fmt.Errorf("field action: empty")
		}
		if rec.RawLabel != nil {
			lab := strings.TrimSpace(fmt.Sprint(rec.RawLabel))
			if (lab == "1") == wrong || (lab != "0" && lab != "1") {
				return MoralItem{}, fmt.Errorf("field label: %q does not match the action field (want 1 for moral_action, 0 for immoral_action)", lab)
			}
		}
		id := cmp.Or(rec.ID, fmt.Sprint(line))
		text := "Action: " + strings.TrimSpace(*action)
		if n := strings.TrimSpace(rec.Norm); n != "" {
			text = "Norm: " + n + "\n" + text
		}
		return MoralItem{ID: id, Source: SourceMoralStories, Text: text, Wrong: wrong}, nil
	})
}

// loadFile opens path and reads it with read (one of the Read* loaders, which name path in
// their errors); what names the data set in the error of opening the file.
func loadFile[T any](path, what string, read func(r io.Reader, name string) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: load %s: %w", what, err)
	}
	defer f.Close()
	return read(f, path)
}

// readJSONL reads every non-empty line of r as JSON into a record R and converts it with decode,
// which gets the line's 1-based number, and returns the results in order. Errors name the data
// set (what), the file (name) and the line.
func readJSONL[R, T any](r io.Reader, name, what string, decode func(line int, rec R) (T, error)) ([]T, error) {
	var out []T
	err := eachJSONLine(r, func(line int, raw []byte) error {
		var rec R
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		v, err := decode(line, rec)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eval: load %s %s: %w", what, name, err)
	}
	return out, nil
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
