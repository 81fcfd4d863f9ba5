// The fine-tuning job routes (POST /finetune, GET and DELETE /jobs/{id}): start a job, read its
// state, cancel it (the jobs run in jobs.go).

package main

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/valora-go/valora/train"
)

// finetuneRequest is the body of POST /finetune. Omitted settings take the protocol's
// defaults (examples/finetune's): rank 128, alpha 512, 10 epochs, lr 1e-4.
type finetuneRequest struct {
	Rows []struct {
		Prompt string `json:"prompt"`
		Prefix string `json:"prefix"`
		Answer string `json:"answer"`
	} `json:"rows"`
	Rank   *int     `json:"rank"`   // LoRA rank
	Alpha  *float64 `json:"alpha"`  // LoRA alpha
	Epochs *int     `json:"epochs"` // passes over rows
	LR     *float64 `json:"lr"`     // peak learning rate
	Chat   bool     `json:"chat"`   // prompts in the tokenizer's chat template
	Seed   uint64   `json:"seed"`   // adapter initialisation, dropout and shuffling
}

func (s *server) handleFinetune(w http.ResponseWriter, r *http.Request) {
	var req finetuneRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	spec, err := s.trainSpec(&req)
	if err != nil {
		fail(w, err)
		return
	}
	id, err := s.jobs.Submit(spec)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", "/jobs/"+id)
	writeJSON(w, http.StatusAccepted, map[string]string{"job": id})
}

func (s *server) trainSpec(req *finetuneRequest) (*trainSpec, error) {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusUnprocessableEntity, format, args...)
	}
	switch {
	case len(req.Rows) == 0:
		return nil, bad(`"rows" is empty`)
	case len(req.Rows) > s.opts.MaxRows:
		return nil, bad(`"rows": %d, at most %d`, len(req.Rows), s.opts.MaxRows)
	case req.Rank != nil && (*req.Rank <= 0 || *req.Rank > 1024):
		return nil, bad(`"rank": %d, want 1..1024`, *req.Rank)
	case req.Alpha != nil && !(*req.Alpha > 0 && *req.Alpha <= 1e6):
		return nil, bad(`"alpha": %v, want > 0`, *req.Alpha)
	case req.Epochs != nil && (*req.Epochs <= 0 || *req.Epochs > s.opts.MaxEpochs):
		return nil, bad(`"epochs": %d, want 1..%d`, *req.Epochs, s.opts.MaxEpochs)
	case req.LR != nil && !(*req.LR > 0 && *req.LR <= 1) || req.LR != nil && math.IsNaN(*req.LR):
		return nil, bad(`"lr": %v, want in (0, 1]`, *req.LR)
	case req.Chat && !s.b.tok.HasChatTemplate():
		return nil, bad(`"chat": the tokenizer has no chat template`)
	}
	rows := make([]train.TextExample, len(req.Rows))
	for i, x := range req.Rows {
		if x.Prompt == "" || x.Answer == "" {
			return nil, bad(`"rows": row %d: want non-empty "prompt" and "answer"`, i)
		}
		rows[i] = train.TextExample{Prompt: x.Prompt, Prefix: x.Prefix, Answer: x.Answer}
	}
	spec, err := s.b.newTrainSpec(rows, req.Chat, req.Rank, req.Alpha, req.Epochs, req.LR, req.Seed)
	if err != nil {
		return nil, bad("%v", err)
	}
	return spec, nil
}

func (s *server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	v, ok := s.jobs.View(r.PathValue("id"))
	if !ok {
		fail(w, errorf(http.StatusNotFound, "no job %q", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// handleCancelJob cancels a queued or running job and answers its state once it has stopped
// (or when the request ends first). A job that already finished is 409.
func (s *server) handleCancelJob(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	v, err := s.jobs.Cancel(ctx, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
