package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
)

// The registry's bookkeeping, with a stand-in for training: how a job ends decides its status,
// only a job that succeeds registers an adapter, and MaxJobs bounds the jobs queued or running.
func TestJobsLifecycle(t *testing.T) {
	cases := []struct {
		name    string
		train   trainFunc
		status  string
		adapter string
		err     string
	}{
		{"done", func(ctx context.Context, _ *trainSpec, onStep func(int, int, float64)) (*lora.Adapter, error) {
			onStep(2, 2, 0.5)
			return &lora.Adapter{}, nil
		}, statusDone, "job-1", ""},
		{"failed", func(ctx context.Context, _ *trainSpec, onStep func(int, int, float64)) (*lora.Adapter, error) {
			onStep(1, 2, 0.5)
			return nil, errors.New("train: loss is NaN")
		}, statusFailed, "", "train: loss is NaN"},
		{"cancelled by the job's context", func(ctx context.Context, _ *trainSpec, onStep func(int, int, float64)) (*lora.Adapter, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("train: %w", ctx.Err())
		}, statusCancelled, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var registered []string
			r := newJobs(1, c.train, func(name, _ string, _ *lora.Adapter) { registered = append(registered, name) })
			defer r.Close()
			id, err := r.Submit(&trainSpec{})
			require.NoError(t, err)
			if c.status == statusCancelled {
				_, err := r.Cancel(context.Background(), id) // the job may still be queued
				require.NoError(t, err)
			}
			<-r.jobByID(id).done
			v, ok := r.View(id)
			require.True(t, ok)
			require.Equal(t, c.status, v.Status)
			require.Equal(t, c.adapter, v.Adapter)
			require.Equal(t, c.err, v.Error)
			if c.adapter != "" {
				require.Equal(t, []string{c.adapter}, registered)
				require.Equal(t, 2, v.Step)
				require.NotNil(t, v.Loss)
			} else {
				require.Empty(t, registered)
			}
		})
	}
}

func TestJobsLimitAndClose(t *testing.T) {
	block := make(chan struct{})
	r := newJobs(2, func(ctx context.Context, _ *trainSpec, _ func(int, int, float64)) (*lora.Adapter, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-block:
			return &lora.Adapter{}, nil
		}
	}, func(string, string, *lora.Adapter) {})
	a, err := r.Submit(&trainSpec{})
	require.NoError(t, err)
	b, err := r.Submit(&trainSpec{})
	require.NoError(t, err)
	_, err = r.Submit(&trainSpec{})
	var he *httpError
	require.ErrorAs(t, err, &he)
	require.Equal(t, 503, he.status)
	r.Close() // cancels both
	for _, id := range []string{a, b} {
		v, _ := r.View(id)
		require.Equal(t, statusCancelled, v.Status, id)
	}
	_, err = r.Submit(&trainSpec{})
	require.ErrorAs(t, err, &he)
	require.Contains(t, he.msg, "shutting down")
	close(block)
}

// jobByID returns job id (a test helper).
func (r *jobs) jobByID(id string) *job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}
