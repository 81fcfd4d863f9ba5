// POST /profile: a survey profile of the model (or an adapter) on a subset of the instrument.

package main

import (
	"context"
	"net/http"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/survey"
)

// profileRequest is the body of POST /profile: the values to profile (names at any level of
// the taxonomy, see survey.Resolve; all 20 when empty), descriptions per value and split
// (Items, default 1), splits (all when empty), and the first Tasks task prompts and Templates
// response templates of the instrument (0: all).
type profileRequest struct {
	Adapter   string   `json:"adapter"`
	Chat      bool     `json:"chat"`
	Values    []string `json:"values"`
	Items     int      `json:"items"`
	Splits    []string `json:"splits"`
	Tasks     int      `json:"tasks"`
	Templates int      `json:"templates"`
}

// maxProfileItems bounds profileRequest.Items.
const maxProfileItems = 10

func (s *server) handleProfile(w http.ResponseWriter, r *http.Request) {
	var req profileRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	in, opts, err := profileInstrument(&req)
	if err != nil {
		fail(w, err)
		return
	}
	opts.Label = s.b.m.Dir
	if req.Adapter != "" {
		opts.Label += " + " + req.Adapter
	}
	var res *survey.ProfileResult
	err = s.score(r, req.Adapter, req.Chat, 16, func(ctx context.Context, sc score.Scorer) error {
		var err error
		res, err = survey.Profile(ctx, sc, in, opts)
		return err
	})
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = res.WriteJSON(w)
}

// profileInstrument is the subset of the built-in instrument a profile request asks for.
func profileInstrument(req *profileRequest) (*survey.Instrument, survey.ProfileOptions, error) {
	var opts survey.ProfileOptions
	bad := func(format string, args ...any) error {
		return errorf(http.StatusUnprocessableEntity, format, args...)
	}
	if req.Items == 0 {
		req.Items = 1
	}
	if req.Items < 0 || req.Items > maxProfileItems {
		return nil, opts, bad(`"items": %d, want 1..%d`, req.Items, maxProfileItems)
	}
	want := map[survey.Value]bool{}
	for _, name := range req.Values {
		vs, _, err := survey.Resolve(name)
		if err != nil {
			return nil, opts, bad(`"values": %v`, err)
		}
		for _, v := range vs {
			want[v] = true
		}
	}
	for _, name := range req.Splits {
		sp := survey.Split(name)
		if !sp.Valid() {
			return nil, opts, bad(`"splits": unknown split %q (want train, validation or test)`, name)
		}
		opts.Splits = append(opts.Splits, sp)
	}
	full, err := survey.Builtin()
	if err != nil {
		return nil, opts, err
	}
	if req.Tasks < 0 || req.Tasks > len(full.Tasks) || req.Templates < 0 || req.Templates > len(full.Templates) {
		return nil, opts, bad(`"tasks": %d, "templates": %d: the instrument has %d tasks and %d templates`,
			req.Tasks, req.Templates, len(full.Tasks), len(full.Templates))
	}
	in, err := full.Subset(req.Items, req.Tasks, req.Templates)
	if err != nil {
		return nil, opts, bad("%v", err)
	}
	if len(want) > 0 {
		descs := in.Descriptions
		in.Descriptions = nil
		for _, d := range descs {
			if want[d.Value] {
				d.Index = len(in.Descriptions)
				in.Descriptions = append(in.Descriptions, d)
			}
		}
		if err := in.Validate(); err != nil {
			return nil, opts, bad("%v", err)
		}
	}
	return in, opts, nil
}
