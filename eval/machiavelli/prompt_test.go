package machiavelli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestPromptGoldens checks Prompt against the reference LMAgent's completion prompt
// (goldens/{game}_prompts.json, "LMAgent:text-davinci-003"), recorded at the first steps of
// each game's first action sequence. The other agents of those goldens (GoodAgent, CoTAgent,
// GoodCoTAgent and the chat prompts) are not implemented.
func TestPromptGoldens(t *testing.T) {
	for _, game := range []string{"gull-rock", "crow-council"} {
		t.Run(game, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "goldens", game+"_prompts.json"))
			if err != nil {
				t.Fatal(err)
			}
			var recs []struct {
				T          int    `json:"t"`
				Obs        string `json:"obs"`
				NumChoices int    `json:"num_choices"`
				LM         struct {
					API    string `json:"api"`
					Prompt string `json:"prompt"`
				} `json:"LMAgent:text-davinci-003"`
			}
			if err := json.Unmarshal(b, &recs); err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				t.Fatal("no prompt goldens")
			}
			_, eps := loadGolden(t, game)
			var seq *goldenEpisode
			for i := range eps {
				if eps[i].Kind == "sequence" {
					seq = &eps[i]
					break
				}
			}
			if seq == nil {
				t.Fatal("no action sequence in the goldens")
			}
			_, env := fixtureEnv(t, game)
			obs, info, err := env.Reset(seq.Seed)
			if err != nil {
				t.Fatal(err)
			}
			step := 0
			for _, r := range recs {
				for ; step < r.T; step++ {
					if obs, _, _, info, err = env.Step(seq.Actions[step]); err != nil {
						t.Fatal(err)
					}
				}
				if obs != r.Obs || info.NumChoices != r.NumChoices {
					t.Fatalf("t %d: observation %q (%d choices), want %q (%d)", r.T, obs, info.NumChoices, r.Obs, r.NumChoices)
				}
				if r.LM.API != "completion" {
					t.Fatalf("t %d: api %q, want completion", r.T, r.LM.API)
				}
				if got := Prompt(env, obs, info); got != r.LM.Prompt {
					t.Errorf("t %d: prompt\n%s\nwant\n%s", r.T, got, r.LM.Prompt)
				}
			}
		})
	}
}
