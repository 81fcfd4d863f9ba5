package tokenize

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// surveyPrompts builds the survey prompts: every task x statement x response template of
// ../shared/data/survey/kvs_data_new.json (3 x 594 x 9 = 16,038), or as many synthetic prompts
// of the same shape when the shared data is absent.
func surveyPrompts(b *testing.B) []string {
	raw, err := os.ReadFile("../../shared/data/survey/kvs_data_new.json")
	var d struct {
		Tasks     []string `json:"tasks"`
		Templates []string `json:"response_template"`
		Train     []struct {
			Sentence string `json:"sentence"`
		} `json:"train"`
		Eval, Test []struct {
			Sentence string `json:"sentence"`
		}
	}
	if err == nil {
		err = json.Unmarshal(raw, &d)
	}
	var prompts []string
	if err == nil {
		items := append(append(d.Train, d.Eval...), d.Test...)
		for _, task := range d.Tasks {
			for _, it := range items {
				for _, tpl := range d.Templates {
					prefix, _, _ := strings.Cut(tpl, "{rating}")
					prompts = append(prompts, task+"\n\nStatement: "+it.Sentence+"\n\n"+prefix)
				}
			}
		}
		return prompts
	}
	b.Logf("survey data absent (%v): synthetic prompts", err)
	for i := 0; i < 16038; i++ {
		prompts = append(prompts, fmt.Sprintf("Rate how much each principle influences your actions:\n"+
			"1 = Almost never influences my actions\n6 = Consistently influences my actions.\n"+
			"You must respond with an integer between 1 and 6.\n\nStatement: item %d: it is important "+
			"to me to be loyal to my friends and devote myself to people close to me.\n\nMy answer is ", i))
	}
	return prompts
}

// BenchmarkEncodeSurveyPrompts encodes all survey prompts with the Qwen3 tokenizer per
// iteration and reports prompts/s.
func BenchmarkEncodeSurveyPrompts(b *testing.B) {
	tok := loadOrSkip(b, qwenDir)
	prompts := surveyPrompts(b)
	chars := 0
	for _, p := range prompts {
		chars += len(p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range prompts {
			if _, err := tok.Encode(p, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(prompts))/b.Elapsed().Seconds(), "prompts/s")
	b.ReportMetric(float64(chars)/float64(len(prompts)), "bytes/prompt")
}
