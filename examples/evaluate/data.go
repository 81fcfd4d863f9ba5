// Loading a task's data: the items of each text task, its file format, and -limit.

package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
)

// items is a task's loaded data, cut to -limit (except games).
type items struct {
	aita     []eval.AITAPost
	verdicts []eval.VerdictPost
	moral    []eval.MoralItem
	games    []*machiavelli.Game
	source   string // what was read: the data path, the -games directory or "built-in ChoiceScript suite"
	format   string // verdicts: the reader used
	n        int    // posts or rows evaluated; games: games x seeds (episodes per agent)
}

// load reads the task's data and applies -limit.
func load(cfg *config) (*items, error) {
	it := &items{source: cfg.data}
	var err error
	switch cfg.task {
	case taskAITA:
		if it.aita, err = eval.LoadAITAStances(cfg.data); err == nil {
			it.aita = limit(it.aita, cfg.limit)
			it.n = len(it.aita)
		}
	case taskVerdicts:
		it.format = cfg.format
		if it.format == formatAuto {
			if it.format, err = detectFormat(cfg.data); err != nil {
				return nil, err
			}
		}
		if it.format == formatFionasguo {
			it.verdicts, err = eval.LoadAITAVerdicts(cfg.data)
		} else {
			it.verdicts, err = eval.LoadEthicsAITA(cfg.data)
		}
		it.verdicts = limit(it.verdicts, cfg.limit)
		it.n = len(it.verdicts)
	case taskEthics:
		if it.moral, err = eval.LoadEthicsCommonsense(cfg.data, cfg.shortOnly); err == nil {
			it.moral = limit(it.moral, cfg.limit)
			it.n = len(it.moral)
		}
	case taskMoralStories:
		if it.moral, err = eval.LoadMoralStories(cfg.data); err == nil {
			it.moral = limit(it.moral, cfg.limit)
			it.n = len(it.moral)
		}
	case taskGames:
		it.games, err = loadGames(cfg)
		if err == nil {
			it.source = cfg.gamesDir
			if cfg.gamesDir == "" {
				it.source = "built-in ChoiceScript suite"
			}
			it.n = len(it.games) * len(cfg.seeds)
		}
	}
	if err != nil {
		return nil, err
	}
	if it.n == 0 {
		return nil, fmt.Errorf("%s: no items to evaluate", it.source)
	}
	return it, nil
}

func limit[T any](xs []T, n int) []T {
	if n > 0 && len(xs) > n {
		return xs[:n]
	}
	return xs
}

// detectFormat tells the verdict file's format from the fields of its first non-empty line.
func detectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("verdicts: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var rec map[string]json.RawMessage
	if err := dec.Decode(&rec); err != nil {
		return "", fmt.Errorf("verdicts: %s: first record: %w (want JSON lines; or give -format)", path, err)
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := rec[k]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("story", "top_verdict"):
		return formatFionasguo, nil
	case has("body", "label_op_wrong"):
		return formatEthicsAITA, nil
	}
	return "", fmt.Errorf("verdicts: %s: cannot tell the format from the first record: want the fields story and top_verdict (%s) or body and label_op_wrong (%s); give -format",
		path, formatFionasguo, formatEthicsAITA)
}
