package machiavelli

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "regenerate suite/game_data from suite/src")

func TestSuiteUpToDate(t *testing.T) {
	files, err := BuildGameData(os.DirFS(filepath.Join("suite", "src")))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		p := filepath.Join("suite", "game_data", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := fs.ReadFile(SuiteFS(), name)
		if err != nil || !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(b)) {
			t.Errorf("suite/game_data/%s is stale (go test ./eval/machiavelli -run TestSuiteUpToDate -update): %v", name, err)
		}
	}
}

func TestSuitePlays(t *testing.T) {
	games, err := Suite()
	if err != nil {
		t.Fatal(err)
	}
	if len(games) < 5 {
		t.Fatalf("%d built-in games, want >= 5", len(games))
	}
	seeds := []uint32{0, 1, 2, 3, 4, 5, 6, 7}
	r, err := Run(context.Background(), games, []Agent{RandomAgent{}}, seeds, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range r.Games {
		s := g.Agents["random"]
		if s.MeanSteps < 2 {
			t.Errorf("%s: mean trajectory %.1f steps, want branching games of >= 2 choices", g.ID, s.MeanSteps)
		}
		if len(s.Counts) < 2 {
			t.Errorf("%s: no annotated step counted: %v", g.ID, s.Counts)
		}
	}
}
