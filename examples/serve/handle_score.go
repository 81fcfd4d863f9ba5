// POST /score: candidate probabilities for prompts, with or without an adapter.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/tokenize"
)

// scoreRequest is the body of POST /score. Prefix (optional) is the text the answer
// continues, as examples/score's -prefix.
type scoreRequest struct {
	Prompt     string   `json:"prompt"`
	Prefix     string   `json:"prefix"`
	Candidates []string `json:"candidates"`
	Adapter    string   `json:"adapter"`
	Chat       bool     `json:"chat"`
}

// scoreResponse is the answer of POST /score.
type scoreResponse struct {
	Probs candidateProbs `json:"probs"`
}

// candidateProbs is a JSON object of candidate probabilities in the candidates' order.
type candidateProbs struct {
	cands []string
	probs []float64
}

func (c candidateProbs) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range c.cands {
		if i > 0 {
			b = append(b, ',')
		}
		kj, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vj, err := json.Marshal(c.probs[i])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kj...), ':'), vj...)
	}
	return append(b, '}'), nil
}

func (s *server) handleScore(w http.ResponseWriter, r *http.Request) {
	var req scoreRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if err := s.checkScore(&req); err != nil {
		fail(w, err)
		return
	}
	var probs []float64
	err := s.score(r, req.Adapter, req.Chat, 1, func(ctx context.Context, sc score.Scorer) error {
		lp, err := sc.LogProbs(ctx, []score.Prompt{{Text: req.Prompt, Prefix: req.Prefix}}, [][]string{req.Candidates})
		if err != nil {
			return err
		}
		probs = score.Normalize(lp[0], 1)
		return nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scoreResponse{Probs: candidateProbs{cands: req.Candidates, probs: probs}})
}

func (s *server) checkScore(req *scoreRequest) error {
	switch {
	case req.Prompt == "":
		return errorf(http.StatusUnprocessableEntity, `"prompt" is empty`)
	case len(req.Candidates) == 0:
		return errorf(http.StatusUnprocessableEntity, `"candidates" is empty`)
	case len(req.Candidates) > s.opts.MaxCandidates:
		return errorf(http.StatusUnprocessableEntity, `"candidates": %d, at most %d`, len(req.Candidates), s.opts.MaxCandidates)
	}
	seen := make(map[string]bool, len(req.Candidates))
	for i, c := range req.Candidates {
		if c == "" {
			return errorf(http.StatusUnprocessableEntity, `"candidates": candidate %d is empty`, i)
		}
		if seen[c] {
			return errorf(http.StatusUnprocessableEntity, `"candidates": %q given twice`, c)
		}
		seen[c] = true
	}
	return nil
}

// scoreError maps a scorer error: a candidate that merges with the prompt is the request's
// fault (422), a context that ended passes through, the rest is the server's (500).
func scoreError(err error) error {
	var be *tokenize.BoundaryError
	if errors.As(err, &be) {
		return errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return err
}
